package scenario

// Exported entry points to the strict decoder, for other configuration files of the rig (the
// bench file of rig/bench) so that every file the rig reads reports errors the same way:
// FILE:LINE: field PATH: message, wrapping ErrInvalid.

// Doc is a strictly decoded YAML file, kept to place validation errors on their line.
type Doc struct{ d *doc }

// DecodeStrict parses data into v: unknown fields, duplicate keys and wrong types are
// *FileError values naming name, the line and the field.
func DecodeStrict(name string, data []byte, v any) (*Doc, error) {
	d, err := decode(name, data, v)
	if err != nil {
		return nil, err
	}
	return &Doc{d}, nil
}

// At returns a *FileError for the YAML path field (e.g. "gpio.reset.line"), on its line when the
// field is present in the file.
func (d *Doc) At(field, format string, args ...any) error {
	return d.d.at(field, format, args...)
}
