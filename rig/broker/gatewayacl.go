package broker

import (
	"fmt"
	"sort"
	"strings"
)

// A gateway identity is a multi-device gateway's MQTT session: one connection that carries the
// telemetry of several devices, as a real field gateway serving many sensors does. With
// DeviceACL it may publish (and subscribe) under the topics of its own devices only — for each
// of them exactly what that device itself may — and under nothing else, its own name included.
// The mapping is data the stack provisions, like the device passwords.

// gatewaySets turns the configured lists into sets (nil when there are none).
func gatewaySets(gws map[string][]string) map[string]map[string]bool {
	if len(gws) == 0 {
		return nil
	}
	out := make(map[string]map[string]bool, len(gws))
	for gw, devs := range gws {
		set := make(map[string]bool, len(devs))
		for _, d := range devs {
			set[d] = true
		}
		out[gw] = set
	}
	return out
}

// validateGateways refuses a mapping that would widen the ACL beyond the devices: an identity
// that is a pattern, a gateway without devices, and a gateway that is itself one of the devices.
func validateGateways(gws map[string][]string) error {
	devices := map[string]string{}
	names := make([]string, 0, len(gws))
	for gw := range gws {
		names = append(names, gw)
	}
	sort.Strings(names)
	for _, gw := range names {
		if !plainIdentity(gw) {
			return fmt.Errorf("broker: gateway identity %q is empty, starts with $ or holds a topic character (/ + #); name it like a device", gw)
		}
		if len(gws[gw]) == 0 {
			return fmt.Errorf("broker: gateway identity %q has no devices (list the device ids whose topics it publishes under)", gw)
		}
		for _, d := range gws[gw] {
			if !plainIdentity(d) {
				return fmt.Errorf("broker: device id %q of gateway %q is empty, starts with $ or holds a topic character", d, gw)
			}
			devices[d] = gw
		}
	}
	for _, gw := range names {
		if other, ok := devices[gw]; ok {
			return fmt.Errorf("broker: gateway identity %q is also a device of gateway %q (a gateway and a device need distinct identities)", gw, other)
		}
	}
	return nil
}

func plainIdentity(id string) bool {
	return id != "" && !strings.ContainsAny(id, "/+#") && !strings.HasPrefix(id, "$")
}

// allowed is the per-device ACL for id, extended to a gateway identity's devices.
func (g *guard) allowed(id, topic string, write bool) bool {
	if deviceAllowed(g.prefix, id, topic, write) {
		return g.gateways[id] == nil // a gateway has no topics of its own
	}
	devs := g.gateways[id]
	if devs == nil {
		return false
	}
	rest, ok := strings.CutPrefix(topic, g.prefix+"/")
	if !ok {
		return false
	}
	dev, _, _ := strings.Cut(rest, "/")
	return devs[dev] && deviceAllowed(g.prefix, dev, topic, write)
}
