package device

// Hellos returns a channel that receives every HELLO the client decodes from now on (16 buffered;
// later ones are dropped while it is full), and the func that stops it. Run must be running.
// `rig bench check` watches boots with it: the one after a power cut, the one BOOT0 high prevents.
func (c *Client) Hellos() (<-chan Hello, func()) { return c.subscribeHellos() }
