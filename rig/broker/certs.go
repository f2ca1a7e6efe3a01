package broker

import (
	"crypto/sha256"
	"crypto/x509"
	"sort"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// PresentedCert is a client certificate a client presented during the TLS handshake, as the
// certificate-hygiene check sees the fleet from the broker's side.
type PresentedCert struct {
	ClientID    string
	Username    string
	Listener    string
	Remote      string              // last remote address seen
	Leaf        *x509.Certificate   // the client's leaf certificate
	Chain       []*x509.Certificate // as presented, leaf first
	Verified    bool                // the TLS layer verified the chain against ClientCAs
	Fingerprint [32]byte            // SHA-256 of the leaf DER
	FirstSeen   time.Time
	LastSeen    time.Time
	Connects    int // CONNECTs seen with this (client id, certificate)
}

type certKey struct {
	clientID string
	fp       [32]byte
}

// certRecorder records client certificates at CONNECT, before authentication, so that a
// certificate whose identity binding is then refused is still in the inventory. Handshakes that
// fail verification never reach mochi and are only counted (Stats.HandshakeFailures).
type certRecorder struct {
	mqtt.HookBase
	now  func() time.Time
	mu   sync.Mutex
	seen map[certKey]*certEntry
}

type certEntry struct {
	p   PresentedCert
	seq int // order of first sighting
}

func (r *certRecorder) ID() string { return "rig-cert-recorder" }

func (r *certRecorder) Provides(b byte) bool { return b == mqtt.OnConnect }

func (r *certRecorder) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	cs, ok := connState(cl)
	if !ok || len(cs.PeerCertificates) == 0 {
		return nil
	}
	leaf := cs.PeerCertificates[0]
	k := certKey{clientID: cl.ID, fp: sha256.Sum256(leaf.Raw)}
	t := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, found := r.seen[k]
	if !found {
		e = &certEntry{seq: len(r.seen), p: PresentedCert{
			ClientID:    cl.ID,
			Leaf:        leaf,
			Chain:       append([]*x509.Certificate(nil), cs.PeerCertificates...),
			Fingerprint: k.fp,
			FirstSeen:   t,
			Listener:    cl.Net.Listener,
		}}
		r.seen[k] = e
	}
	e.p.Username = string(pk.Connect.Username)
	e.p.Remote = cl.Net.Remote
	e.p.Verified = len(cs.VerifiedChains) > 0
	e.p.LastSeen = t
	e.p.Connects++
	return nil
}

func (r *certRecorder) list() []PresentedCert {
	r.mu.Lock()
	entries := make([]certEntry, 0, len(r.seen))
	for _, e := range r.seen {
		entries = append(entries, *e)
	}
	r.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].p.ClientID != entries[j].p.ClientID {
			return entries[i].p.ClientID < entries[j].p.ClientID
		}
		return entries[i].seq < entries[j].seq
	})
	out := make([]PresentedCert, len(entries))
	for i, e := range entries {
		out[i] = e.p
	}
	return out
}
