package firefox

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// deadProxy is where every HTTP request the pages do not make goes: a
// closed port on loopback, so that Firefox's own services (remote
// settings, telemetry, safe browsing, updates) fail at once instead of
// reaching the Internet. Addresses in Options.Direct bypass it.
const (
	deadProxy     = "127.0.0.1"
	deadProxyPort = 9 // discard: nothing listens
	deadURL       = "http://127.0.0.1:9/"
)

// defaultPrefs are the preferences of every profile: no first-run pages,
// updates, telemetry or background traffic; a fake camera and microphone
// granted without a prompt; autoplay allowed; real host addresses in ICE
// candidates (no mDNS names).
var defaultPrefs = map[string]any{
	"app.update.disabledForTesting":                     true,
	"app.normandy.enabled":                              false,
	"browser.aboutwelcome.enabled":                      false,
	"browser.shell.checkDefaultBrowser":                 false,
	"browser.startup.homepage_override.mstone":          "ignore",
	"browser.startup.page":                              0,
	"browser.safebrowsing.malware.enabled":              false,
	"browser.safebrowsing.phishing.enabled":             false,
	"browser.safebrowsing.downloads.enabled":            false,
	"browser.safebrowsing.update.enabled":               false,
	"browser.newtabpage.enabled":                        false,
	"browser.ping-centre.telemetry":                     false,
	"datareporting.healthreport.uploadEnabled":          false,
	"datareporting.policy.dataSubmissionEnabled":        false,
	"extensions.update.enabled":                         false,
	"extensions.getAddons.cache.enabled":                false,
	"media.gmp-manager.updateEnabled":                   false,
	"network.captive-portal-service.enabled":            false,
	"network.connectivity-service.enabled":              false,
	"network.dns.disablePrefetch":                       true,
	"network.predictor.enabled":                         false,
	"network.prefetch-next":                             false,
	"network.trr.mode":                                  5, // no DNS over HTTPS
	"network.proxy.type":                                1,
	"network.proxy.http":                                deadProxy,
	"network.proxy.http_port":                           deadProxyPort,
	"network.proxy.ssl":                                 deadProxy,
	"network.proxy.ssl_port":                            deadProxyPort,
	"network.proxy.allow_hijacking_localhost":           false,
	"services.settings.server":                          deadURL,
	"toolkit.telemetry.enabled":                         false,
	"toolkit.telemetry.reportingpolicy.firstRun":        false,
	"toolkit.telemetry.server":                          "",
	"media.navigator.streams.fake":                      true,
	"media.navigator.permission.disabled":               true,
	"media.autoplay.default":                            0,
	"media.autoplay.block-webaudio":                     false,
	"media.peerconnection.ice.obfuscate_host_addresses": false,
	"remote.active-protocols":                           1, // WebDriver BiDi only
}

// userJS renders the profile's user.js: the defaults, the hosts that
// bypass the dead proxy and are treated as secure origins, then extra,
// which wins.
func userJS(direct []string, extra map[string]any) (string, error) {
	prefs := maps.Clone(defaultPrefs)
	if len(direct) > 0 {
		hosts := strings.Join(direct, ",")
		prefs["network.proxy.no_proxies_on"] = hosts
		// Pages from these hosts get a camera over plain http.
		prefs["dom.securecontext.allowlist"] = hosts
	}
	maps.Copy(prefs, extra)
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(prefs)) {
		v, err := json.Marshal(prefs[k])
		if err != nil {
			return "", fmt.Errorf("firefox: pref %s: %w", k, err)
		}
		fmt.Fprintf(&b, "user_pref(%q, %s);\n", k, v)
	}
	return b.String(), nil
}
