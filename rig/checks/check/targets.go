package check

import (
	"crypto/x509"
	"io/fs"
)

// DeviceCert is one device certificate of the fleet inventory and where it was seen.
type DeviceCert struct {
	Source   string // "inventory:<file>" or "presented:<listener>"
	ClientID string // the MQTT client id that presented it (presented certificates only)
	Cert     *x509.Certificate
}

// Fleet is what the device-certificate hygiene check judges. Empty fields are not named.
type Fleet struct {
	Inventory []DeviceCert        // certificates from the scenario's inventory folder
	Presented func() []DeviceCert // certificates clients presented to the broker in mTLS, read when the check runs
	Trust     *x509.CertPool      // the device CA(s)
	UID       string              // the device identity read over UART (lower-case hex)
}

// Supplier names the supplier-side evidence of the gateway release. An empty field is "not
// named": the controls that need it are skipped with the reason.
type Supplier struct {
	SecurityTxt string         // URL of the vendor's RFC 9116 security.txt
	Trust       *x509.CertPool // CA(s) the vendor URL is checked against; nil: the system roots
	VendorKey   []byte         // the vendor's OpenPGP public key; nil: a signature is not checked
	SBOM        []byte         // the SBOM of the gateway release
	SBOMName    string         // the file it came from
	// SBOMOrigin says how the SBOM was made when the rig knows it (on the reference path, the one
	// make build writes beside the gateway binary); quoted in the observed facts.
	SBOMOrigin string
	// SBOMErr is why an SBOM that is there could not be read (SUP-SBOM is then an error).
	SBOMErr    error
	VulnDB     fs.FS  // the OSV entries of the offline vulnerability database snapshot
	VulnDBName string // where they are (a folder, or the rig's embedded fixture)
	// VulnDBNote says what the database is when it is not a real snapshot (the repository's
	// fixture on the reference path); quoted in the observed facts.
	VulnDBNote  string
	Support     []byte // the support declaration (supply.Support's JSON)
	SupportName string
	GatewayBin  string // the deployed gateway binary (a Go binary)
	// Version is the deployed gateway version when the binary's build information carries no
	// release version.
	Version string
	// Reference is set on the rig's own path: skip reasons then say how to name the inputs there.
	Reference bool
}
