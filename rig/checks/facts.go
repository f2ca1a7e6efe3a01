package checks

import (
	"slices"
)

// Facts are what a control saw of the path's configuration, in a form two runs compare value by
// value: the verdict may stay the same while they change (a renewed certificate, a suite turned
// on, another broker build), and rig/delta reports that as drift or, for the names below marked
// routine, as expected churn. The names, one place for all checks:
//
//	mqtt.plain.answer, mqtt.plain.connack   TRANSPORT-PLAINTEXT: what the plaintext endpoint answered
//	tls.versions                            TRANSPORT-TLS-LEGACY: accepted protocol versions
//	tls.suites, tls.key_exchange            TRANSPORT-CIPHERS: "<version> <suite>", "<version> <key exchange>"
//	mqtt.tls.answer, mqtt.tls.connack       TRANSPORT-TLS-MQTT
//	tls.client_auth                         TRANSPORT-CLIENT-AUTH: none, optional, required
//	cert.fingerprint, cert.serial           CERT-CHAIN (routine: a renewal changes them; the dates are
//	                                        left to leaf.json: a time in the results would not diff
//	                                        cleanly from run to run)
//	cert.issuer, cert.subject, cert.self_signed, cert.signature   CERT-CHAIN
//	cert.san                                CERT-SAN: "DNS:name", "IP:addr"
//	cert.key                                CERT-KEY: "RSA 2048", "ECDSA P-256", "Ed25519"
//	cert.chain_signatures, cert.lifetime_days   CERT-SIGNATURE, CERT-LIFETIME
//	http.status.<credential>                the ingest's status code per credential: none, valid_token,
//	                                        wrong_token, other_tenant, expired_token
//	http.oversize, http.plaintext, http.server   INGEST-OVERSIZE, INGEST-PLAINTEXT, the ingest's Server header
//	mqtt.anonymous.plain, mqtt.anonymous.tls     GUARD-ANON: admitted, refused, unreachable, …
//	mqtt.suback.wildcard, mqtt.suback.sys   GUARD-SUB-WILDCARD, GUARD-SUB-SYS: the SUBACK code
//	mqtt.oversize                           GUARD-MAX-PACKET: what the broker did with the oversize publish
//	broker.version                          GUARD-SUB-SYS: $SYS/broker/version, when the broker lets it be read
//	mqtt.client_id_takeover                 IDENT-TAKEOVER: refused, reassigned, taken
//	mqtt.lockout                            IDENT-LOCKOUT: locks, none, no-password-check
//	mqtt.retain_acl, mqtt.will_acl          IDENT-RETAIN-ACL, IDENT-WILL-ACL: enforced, refused-at-connect, stored, delivered
//	mqtt.v5                                 IDENT-MQTT5: same-rules, bypass, unsupported
//	mqtt.websocket.ws, mqtt.websocket.wss   IDENT-WEBSOCKET: enforced, bypass
//
// normalizeFacts returns a copy of facts with every list sorted (lists of strings only) and nil
// values dropped, so that the same configuration always records the same value; nil when empty.
func normalizeFacts(facts map[string]any) map[string]any {
	if len(facts) == 0 {
		return nil
	}
	out := make(map[string]any, len(facts))
	for k, v := range facts {
		switch x := v.(type) {
		case nil:
			continue
		case []string:
			s := slices.Clone(x)
			if s == nil {
				s = []string{}
			}
			slices.Sort(s)
			out[k] = slices.Compact(s)
		default:
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
