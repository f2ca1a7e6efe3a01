package check

// Threshold names a check reads from its controls' `thresholds:` in the catalog (Env.Threshold).
// Each check declares the ones it reads (Check.Thresholds); the catalog must define exactly those.
const (
	ThExpiryWarnDays    = "expiry_warn_days"     // below it, a certificate fails medium
	ThExpiryHighDays    = "expiry_high_days"     // below it, high
	ThMinRSABits        = "min_rsa_bits"         // the weakest acceptable RSA key
	ThMinECBits         = "min_ec_bits"          // the weakest acceptable EC key
	ThMaxLifetimeDays   = "max_lifetime_days"    // the longest acceptable validity period
	ThMinDHBits         = "min_dh_bits"          // the smallest acceptable ephemeral DH group
	ThMinECDHBits       = "min_ecdh_bits"        // the smallest acceptable ECDH curve
	ThExportGradeDHBits = "export_grade_dh_bits" // below it a DH group is as weak as EXPORT (Logjam)
	ThMaxProbes         = "max_probes"           // hand-built hellos one control may send to one endpoint
	ThFloodMessages     = "flood_messages"       // size of the intrusive publish flood
)
