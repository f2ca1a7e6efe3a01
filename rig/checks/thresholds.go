package checks

import "time"

// Threshold names a check reads from its controls' `thresholds:` in the catalog (Env.threshold).
// Each check declares the ones it reads (Check.Thresholds); the catalog must define exactly those.
const (
	thExpiryWarnDays    = "expiry_warn_days"     // below it, a certificate fails medium
	thExpiryHighDays    = "expiry_high_days"     // below it, high
	thMinRSABits        = "min_rsa_bits"         // the weakest acceptable RSA key
	thMinECBits         = "min_ec_bits"          // the weakest acceptable EC key
	thMaxLifetimeDays   = "max_lifetime_days"    // the longest acceptable validity period
	thMinDHBits         = "min_dh_bits"          // the smallest acceptable ephemeral DH group
	thMinECDHBits       = "min_ecdh_bits"        // the smallest acceptable ECDH curve
	thExportGradeDHBits = "export_grade_dh_bits" // below it a DH group is as weak as EXPORT (Logjam)
	thMaxProbes         = "max_probes"           // hand-built hellos one control may send to one endpoint
	thFloodMessages     = "flood_messages"       // size of the intrusive publish flood
)

// renewal is the renewal window of an expiry control.
type renewal struct{ warnDays, highDays int }

func renewalOf(env *Env, control string) renewal {
	return renewal{warnDays: env.threshold(control, thExpiryWarnDays), highDays: env.threshold(control, thExpiryHighDays)}
}

// keyFloor is the weakest key a key-strength control accepts, in bits.
type keyFloor struct{ rsa, ec int }

func keyFloorOf(env *Env, control string) keyFloor {
	return keyFloor{rsa: env.threshold(control, thMinRSABits), ec: env.threshold(control, thMinECBits)}
}

// kexFloor is what TRANSPORT-CIPHERS accepts of an ephemeral key exchange, in bits.
type kexFloor struct{ dh, ecdh, exportDH int }

func kexFloorOf(env *Env) kexFloor {
	return kexFloor{dh: env.threshold(ctlCiphers, thMinDHBits), ecdh: env.threshold(ctlCiphers, thMinECDHBits), exportDH: env.threshold(ctlCiphers, thExportGradeDHBits)}
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
