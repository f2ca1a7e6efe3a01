package ingest

import (
	"context"
	"fmt"
)

// Restart stops s (if it still runs) and starts a new ingest with the same configuration on the
// same address and store file, as a restarted ingest service would come back. Clients (the
// bridge) keep their URL.
func (s *Server) Restart(ctx context.Context) (*Server, error) {
	cfg := s.cfg
	cfg.Addr = s.ln.Addr().String()
	_ = s.Close()
	ns, err := Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ingest: restart on %s: %w", cfg.Addr, err)
	}
	return ns, nil
}
