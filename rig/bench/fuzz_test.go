package bench

import (
	"errors"
	"testing"

	"github.com/pathrig/rig/rig/link"
	"github.com/pathrig/rig/rig/scenario"
)

// FuzzParse: any bytes either give a bench file whose every value is in range, or an error
// wrapping scenario.ErrInvalid (file, line, field); never a crash.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("b.yaml", data)
		if err != nil {
			if !errors.Is(err, scenario.ErrInvalid) {
				t.Fatalf("error %v does not wrap scenario.ErrInvalid", err)
			}
			return
		}
		if c.Name == "" || c.Serial.Port == "" || c.Serial.Baud < minBaud || c.Serial.Baud > maxBaud {
			t.Fatalf("accepted %+v", c)
		}
		if _, err := link.ParseFraming(c.Serial.Framing); err != nil {
			t.Fatalf("accepted framing %q: %v", c.Serial.Framing, err)
		}
		if bt := c.GPIO.BootTimeout.D(); bt < 0 || bt > maxBootWait {
			t.Fatalf("accepted boot timeout %s", bt)
		}
		for _, l := range []*Line{c.GPIO.Reset, c.GPIO.Boot0} {
			if l != nil && (l.Line == "" || (l.Polarity != ActiveLow && l.Polarity != ActiveHigh)) {
				t.Fatalf("accepted line %+v", l)
			}
		}
	})
}
