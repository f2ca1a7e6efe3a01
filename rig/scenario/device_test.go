package scenario

import (
	"errors"
	"strings"
	"testing"
)

func TestDeviceKinds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		device    string // YAML under device:
		wantErr   string // "" = valid
		wantLine  int
		wantField string
		wantImage string
	}{
		{"emulated default", "  uid: \"303030313233343536373839\"\n", "", 0, "", ""},
		{"qemu default image", "  kind: qemu\n", "", 0, "", DefaultImage},
		{"qemu own image", "  kind: qemu\n  image: out/fw.elf\n", "", 0, "", "out/fw.elf"},
		{"serial with port", "  kind: serial\n  port: /dev/ttyAMA0\n", "", 0, "", ""},
		{"unknown kind", "  kind: jtag\n", `"jtag" is not one of emulated, qemu, serial`, 5, "device.kind", ""},
		{"serial without port", "  kind: serial\n", "needs its UART path", 0, "device.port", ""},
		{"port on qemu", "  kind: qemu\n  port: /dev/ttyUSB0\n", "only a serial device has a port", 6, "device.port", ""},
		{"image on emulated", "  image: fw.elf\n", "only a qemu device runs a firmware image", 5, "device.image", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTree(t, goodScenario+"device:\n"+tc.device, goodProfile)
			plan, err := Library{}.Load(path, "", known)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := plan.Scenario.Device.Image; got != tc.wantImage {
					t.Errorf("image %q, want %q", got, tc.wantImage)
				}
				return
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *FileError", err)
			}
			if fe.Line != tc.wantLine || fe.Field != tc.wantField || !strings.Contains(fe.Msg, tc.wantErr) {
				t.Errorf("got line %d field %q msg %q, want line %d field %q msg containing %q", fe.Line, fe.Field, fe.Msg, tc.wantLine, tc.wantField, tc.wantErr)
			}
		})
	}
}

func TestDeviceSetKind(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    Device
		kind    string
		want    Device
		wantErr string
	}{
		{"emulated to qemu", Device{Kind: DeviceEmulated}, DeviceQEMU, Device{Kind: DeviceQEMU, Image: DefaultImage}, ""},
		{"qemu to emulated drops the image", Device{Kind: DeviceQEMU, Image: "x.elf"}, DeviceEmulated, Device{Kind: DeviceEmulated}, ""},
		{"serial keeps its port", Device{Kind: DeviceSerial, Port: "/dev/ttyAMA0"}, DeviceSerial, Device{Kind: DeviceSerial, Port: "/dev/ttyAMA0"}, ""},
		{"serial needs a port", Device{Kind: DeviceEmulated}, DeviceSerial, Device{Kind: DeviceEmulated}, "needs its UART path"},
		{"unknown", Device{Kind: DeviceEmulated}, "usb", Device{Kind: DeviceEmulated}, "not one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.from
			err := d.SetKind(tc.kind)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want ErrInvalid containing %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if d != tc.want {
				t.Errorf("device %+v, want %+v", d, tc.want)
			}
		})
	}
}
