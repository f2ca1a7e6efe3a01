package main

import (
	"crypto/ed25519"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pathrig/rig/rig/manifest"
)

func newVerifyCmd() *cobra.Command {
	var pubKey string
	cmd := &cobra.Command{
		Use:   "verify FOLDER | CHECKSUMS",
		Short: "Check a run or delta folder against its SHA-256 manifest, or a release's checksum file",
		Long: `Check a run (or delta) folder against the MANIFEST.sha256 written when it was made: every
listed file must be present with the same SHA-256, no file or directory may have been added,
and no path may be listed twice. With --pub-key the manifest's ed25519 signature
(MANIFEST.sha256.sig) must verify too.
Prints each changed, missing or added file or directory and each duplicate manifest line, and
exits 1 when anything differs; exits 2 when the folder has no readable manifest or the key
cannot be read.
The manifest is in sha256sum format: 'cd FOLDER && sha256sum -c MANIFEST.sha256' checks the
listed files without the rig (it does not see added files or directories, nor every duplicate).

Given a file instead of a folder — the SHA256SUMS that 'make dist' writes — it checks every file
that file lists (relative to its folder) and, with --pub-key, its signature SHA256SUMS.sig (same
format as a run's MANIFEST.sha256.sig); files beside it that it does not list are ignored.`,
		Example: `  rig verify out/demo/hardened
  rig verify reports/baselines/hardening-verify --pub-key rig-pub.pem
  rig verify dist/SHA256SUMS --pub-key release-pub.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pub ed25519.PublicKey
			if pubKey != "" {
				var err error
				if pub, err = manifest.LoadPublicKey(pubKey); err != nil {
					return &exitError{exitUsage, fmt.Errorf("--pub-key: %w", err)}
				}
			}
			verify := manifest.Verify
			if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
				verify = manifest.VerifySums
			}
			rep, err := verify(args[0], pub)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			w := cmd.OutOrStdout()
			if !rep.OK() {
				fmt.Fprint(w, rep.String())
				what := "its manifest"
				if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
					what = "the files it lists"
				}
				return &exitError{exitFindings, fmt.Errorf("verify: %s does not match %s (%d changed, %d missing, %d added, %d duplicate lines, signature %s)",
					args[0], what, len(rep.Changed), len(rep.Missing), len(rep.Added), len(rep.Duplicates), rep.Signature)}
			}
			if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
				fmt.Fprintf(w, "%s: %d files match", args[0], rep.Files)
			} else {
				fmt.Fprintf(w, "%s: %d files match %s", args[0], rep.Files, manifest.File)
			}
			if rep.Signature == manifest.SigValid {
				fmt.Fprint(w, ", signature valid")
			}
			fmt.Fprintln(w)
			return nil
		},
	}
	cmd.Flags().StringVar(&pubKey, "pub-key", "", "ed25519 public key (PEM, e.g. from openssl pkey -pubout) that must verify the manifest signature")
	return cmd
}
