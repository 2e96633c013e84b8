package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sfu-project/sfu/internal/firefox"
)

// Firefox gathers no ICE candidates on 127.0.0.1, so its tests run the sfu
// binary inside a network namespace (loadtest.Lab, startLabServer) and the
// browsers in the root namespace, where they reach it over the veth pair
// from the lab's host address. Firefox's WebDriver BiDi endpoint stays on
// the root namespace's loopback, where the test reaches it; the pages
// come from the namespace's address, which both browsers are told to
// treat as a secure origin so that they get their fake cameras over
// plain http.

// firefoxPath finds Firefox ESR. Outside CI a missing browser skips the
// test; in CI (CI=true) it fails it, because `make test` installs it.
func firefoxPath(t *testing.T) string {
	exe, err := firefox.Path()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return exe
}

// newFirefox starts Firefox with pages from host treated as secure and
// let through its proxy, closed when the test ends (its console and
// output logged if the test failed).
func newFirefox(t *testing.T, exe, host string) *firefox.Browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, err := firefox.Start(ctx, firefox.Options{Exe: exe, Direct: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Firefox console:\n%s", strings.Join(f.Console(), "\n"))
			t.Logf("Firefox output:\n%s", f.Stderr())
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// videoFrom is what a page decodes of one participant's video: its
// inbound-rtp statistics, with the codec, and the size of the video
// element of the participant's tile.
type videoFrom struct {
	Frames      float64 `json:"frames"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	Codec       string  `json:"codec"`
	Bytes       float64 `json:"bytes"`
	PLIs        float64 `json:"plis"`
	NACKs       float64 `json:"nacks"`
	VideoWidth  int     `json:"videoWidth"`
	VideoHeight int     `json:"videoHeight"`
}

func (v videoFrom) String() string {
	return fmt.Sprintf("%s %dx%d (element %dx%d), %.0f frames decoded, %.0f kB, %.0f PLIs, %.0f NACKs",
		v.Codec, v.Width, v.Height, v.VideoWidth, v.VideoHeight, v.Frames, v.Bytes/1000, v.PLIs, v.NACKs)
}

// videoFromJS computes a videoFrom for the participant %q in either
// browser: the inbound-rtp entries are those of the tracks the tile's
// video elements play.
const videoFromJS = `(async (pid) => {
	const out = { frames: 0, width: 0, height: 0, codec: '', bytes: 0, plis: 0, nacks: 0, videoWidth: 0, videoHeight: 0 };
	const ids = new Set();
	for (const v of document.querySelectorAll('.tile[data-participant-id="' + pid + '"] video')) {
		out.videoWidth = Math.max(out.videoWidth, v.videoWidth);
		out.videoHeight = Math.max(out.videoHeight, v.videoHeight);
		for (const t of v.srcObject?.getVideoTracks() ?? []) ids.add(t.id);
	}
	const pc = window.sfuDebug?.client.peerConnection('subscriber');
	if (!pc) return out;
	const stats = await pc.getStats();
	for (const s of stats.values()) {
		if (s.type !== 'inbound-rtp' || (s.kind ?? s.mediaType) !== 'video' || !ids.has(s.trackIdentifier)) continue;
		out.frames += s.framesDecoded ?? 0;
		out.bytes += s.bytesReceived ?? 0;
		out.plis += s.pliCount ?? 0;
		out.nacks += s.nackCount ?? 0;
		if (s.frameWidth) { out.width = s.frameWidth; out.height = s.frameHeight; }
		const c = stats.get(s.codecId)?.mimeType;
		if (c) out.codec = c;
	}
	return out;
})(%q)`

// outboundJS describes each video encoding a page sends.
const outboundJS = `(async () => {
	const pc = window.sfuDebug?.client.peerConnection('publisher');
	if (!pc) return [];
	const out = [];
	const stats = await pc.getStats();
	for (const s of stats.values()) {
		if (s.type !== 'outbound-rtp' || (s.kind ?? s.mediaType) !== 'video') continue;
		out.push((s.rid ?? '-') + ' ' + (stats.get(s.codecId)?.mimeType ?? '?') + ' ' + (s.frameWidth ?? 0) + 'x' + (s.frameHeight ?? 0) +
			' ' + Math.round(s.framesPerSecond ?? 0) + ' fps ' + Math.round((s.bytesSent ?? 0) / 1000) + ' kB ' + (s.qualityLimitationReason ?? ''));
	}
	return out.sort();
})()`
