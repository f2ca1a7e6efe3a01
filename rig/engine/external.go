package engine

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/pathrig/rig/rig/checks/check"
	"github.com/pathrig/rig/rig/checks/devicecerts"
	"github.com/pathrig/rig/rig/infile"
	"github.com/pathrig/rig/rig/scenario"
)

// externalTargets reads what a scenario's targets name (trust anchors, client certificates,
// secrets from files or the environment, the sample body) into the checks' targets. It returns
// the secrets for redaction. Errors name the scenario file and the field.
func externalTargets(sc *scenario.Scenario) (check.Targets, []string, error) {
	t := sc.Targets
	var out check.Targets
	var err error
	var secrets []string
	bad := func(field, format string, args ...any) error {
		return &scenario.FileError{File: sc.Source, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	// anchors reads a PEM file of trust anchors: the pool to verify with, and the certificates in
	// it (CERT-CHAIN checks with them a SHA-1 signature crypto/x509 refuses).
	anchors := func(field, name string) (*x509.CertPool, []*x509.Certificate, error) {
		if name == "" {
			return nil, nil, nil
		}
		data, err := infile.Read(t.Path(name), "PEM file", infile.MaxPEM)
		if err != nil {
			return nil, nil, bad(field, "read %s: %v", t.Path(name), err)
		}
		p := x509.NewCertPool()
		var certs []*x509.Certificate
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if c, err := x509.ParseCertificate(b.Bytes); b.Type == "CERTIFICATE" && err == nil {
				p.AddCert(c)
				certs = append(certs, c)
			}
		}
		if len(certs) == 0 {
			return nil, nil, bad(field, "%s holds no PEM certificate", t.Path(name))
		}
		return p, certs, nil
	}
	pool := func(field, name string) (*x509.CertPool, error) {
		p, _, err := anchors(field, name)
		return p, err
	}
	secret := func(field string, s *scenario.Secret) (string, error) {
		if s == nil {
			return "", nil
		}
		var v string
		if s.File != "" {
			data, err := infile.Read(t.Path(s.File), "secret file", infile.MaxSecret)
			if err != nil {
				return "", bad(field+".file", "read %s: %v", t.Path(s.File), err)
			}
			v = strings.TrimRight(string(data), "\r\n")
		} else {
			v = os.Getenv(s.Env)
		}
		if v == "" {
			return "", bad(field, "the secret is empty")
		}
		secrets = append(secrets, v)
		return v, nil
	}
	if b := t.Broker; b != nil {
		trust, certs, err := anchors("targets.broker.trust", b.Trust)
		if err != nil {
			return out, nil, err
		}
		out.Broker = check.Broker{Plain: b.Plain, TLS: b.TLS, ServerName: b.ServerName, Trust: trust, Anchors: certs, WebSocket: b.WebSocket}
	}
	for i, p := range t.Probes {
		f := fmt.Sprintf("targets.probes[%d]", i)
		pw, err := secret(f+".password", p.Password)
		if err != nil {
			return out, nil, err
		}
		id := check.Identity{Name: p.Name, ClientID: p.ClientID, Username: p.Username, Password: pw, Topic: p.Topic}
		if p.Cert != "" {
			certPEM, err := infile.Read(t.Path(p.Cert), "PEM file", infile.MaxPEM)
			if err != nil {
				return out, nil, bad(f+".cert", "read %s: %v", t.Path(p.Cert), err)
			}
			keyPEM, err := infile.Read(t.Path(p.Key), "PEM file", infile.MaxPEM)
			if err != nil {
				return out, nil, bad(f+".key", "read %s: %v", t.Path(p.Key), err)
			}
			c, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return out, nil, bad(f+".cert", "load %s with %s: %v", t.Path(p.Cert), t.Path(p.Key), err)
			}
			id.Cert = &c
		}
		out.Probes = append(out.Probes, id)
	}
	if in := t.Ingest; in != nil {
		tok, err := secret("targets.ingest.token", in.Token)
		if err != nil {
			return out, nil, err
		}
		other, err := secret("targets.ingest.other_tenant_token", in.OtherTenantToken)
		if err != nil {
			return out, nil, err
		}
		expired, err := secret("targets.ingest.expired_token", in.ExpiredToken)
		if err != nil {
			return out, nil, err
		}
		trust, err := pool("targets.ingest.trust", in.Trust)
		if err != nil {
			return out, nil, err
		}
		out.Ingest = check.Ingest{URL: in.URL, Token: tok, OtherTenantToken: other, ExpiredToken: expired, Trust: trust}
		if in.Sample != "" {
			if out.Ingest.Sample, err = infile.Read(t.Path(in.Sample), "sample request body", infile.MaxSample); err != nil {
				return out, nil, bad("targets.ingest.sample", "read %s: %v", t.Path(in.Sample), err)
			}
		}
	}
	out.Management = t.Management
	if t.DeviceCerts != "" {
		inv, err := devicecerts.LoadInventory(t.Path(t.DeviceCerts))
		if err != nil {
			return out, nil, bad("targets.device_certs", "%v", err)
		}
		out.Fleet.Inventory = inv
	}
	if out.Fleet.Trust, err = pool("targets.device_trust", t.DeviceTrust); err != nil {
		return out, nil, err
	}
	if t.Supplier != nil {
		if out.Supplier, err = externalSupplier(t, t.Supplier, bad); err != nil {
			return out, nil, err
		}
	}
	if o := t.Observability; o != nil {
		ob := check.Observability{BrokerLog: t.Path(o.BrokerLog), GatewayLog: t.Path(o.GatewayLog), IngestLog: t.Path(o.IngestLog),
			Metrics: o.Metrics, MetricsUser: o.MetricsUser, Alerts: o.Alerts}
		for _, l := range o.OtherLogs {
			ob.OtherLogs = append(ob.OtherLogs, t.Path(l))
		}
		if ob.MetricsToken, err = secret("targets.observability.metrics_token", o.MetricsToken); err != nil {
			return out, nil, err
		}
		if ob.MetricsPassword, err = secret("targets.observability.metrics_password", o.MetricsPassword); err != nil {
			return out, nil, err
		}
		out.Observability = ob
	}
	return out, secrets, nil
}

// externalEndpoints lists the named endpoints for run.json's volatile part.
func externalEndpoints(t check.Targets) map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{"broker_plain": t.Broker.Plain, "broker_tls": t.Broker.TLS, "ingest": t.Ingest.URL} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}
