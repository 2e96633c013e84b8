package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// maxAudioGap is the longest the audio a page plays of the other may go
// without new audio played out, less the browsers' stalls. It is sampled
// every 20 ms; Opus frames come every 20 ms.
const maxAudioGap = 300 * time.Millisecond

// maxSettleGap bounds the gaps in frames decoded after the switch, until
// a second after the old path closed. Closing a browser's peer connection
// was seen to hold the other path's video up to about 0.9 s, a second or
// more after the swap, on a machine running three browsers on two cores;
// the switch itself is held to maxSwitchGap.
const maxSettleGap = 1500 * time.Millisecond

// encoderStallGap is how long a page's video encoders may all go without a
// frame before the page counts as stalled; they are looked at every 100 ms.
const encoderStallGap = 250

// pathReport is what pathWatchJS noted in a page about the other's tile,
// in epoch milliseconds: when the video track it shows decoded a frame,
// when the audio track it plays played audio out, and each swap of the
// element shown.
type pathReport struct {
	Now   float64      `json:"now"`
	Video []float64    `json:"video"`
	Audio []float64    `json:"audio"`
	Swaps []swapReport `json:"swaps"`
	// Errors are the first errors of the looks; LookGap the longest time
	// between two looks.
	Errors  []string `json:"errors"`
	LookGap float64  `json:"lookGap"`
	// Encoded are the looks (every 100 ms) at which the page's encoders
	// had put out a new video frame.
	Encoded []float64 `json:"encoded"`
	// Late are the intervals between looks over 150 ms apart: the page's
	// main thread was held up, and a look sees at most one frame of each.
	Late [][2]float64 `json:"late"`
}

// swapReport is one swap of the element a tile shows: to the peer
// connection's media (Direct) or the server's, and whether the new
// element's video had decoded, and its audio played out, shortly before
// the swap: since the last look before it, or at a look in the 250 ms
// before that. That is, whether the new path already played when the page
// swapped to it. A swap at the client's direct_show event is checked at
// that moment; one the page made later (its new element had shown no
// picture yet) at the next look.
type swapReport struct {
	At         float64 `json:"at"`
	Direct     bool    `json:"direct"`
	VideoFresh bool    `json:"videoFresh"`
	AudioFresh bool    `json:"audioFresh"`
}

// pathWatchJS looks at a page every 20 ms. Each receiver's synchronization
// sources say when it last delivered media (a decoded video frame, audio
// played out); a receiver whose latest time grew since the previous look
// played. For each remote tile it notes whether the video track of the
// element shown played, and the audio track of that element if it is not
// muted, and every change of the element shown. A page that swaps to a path
// before its media arrives shows and plays nothing new until it comes.
// (Looks come late when the machine is busy; what a look saw happened by
// then.)
const pathWatchJS = `(() => {
	if (window.pathWatch) return true;
	const client = window.sfuDebug.client;
	const clock = () => performance.timeOrigin + performance.now();
	const w = window.pathWatch = { video: {}, audio: {}, swaps: {}, prev: new Map(), played: new Map(), shown: new Map(), last: 0, errors: [], lookGap: 0, late: [] };
	setInterval(() => { try { look(); } catch (err) { if (w.errors.length < 5) w.errors.push(String(err)); } }, 20);
	const look = () => {
		const now = clock();
		if (w.last) w.lookGap = Math.max(w.lookGap, now - w.last);
		if (w.last && now - w.last > 150) w.late.push([w.last, now]);
		const before = w.last;
		w.last = now;
		for (const target of ['subscriber', 'peer']) {
			const pc = client.peerConnection(target);
			for (const r of (pc ? pc.getReceivers() : [])) {
				if (!r.track) continue;
				const latest = Math.max(0, ...r.getSynchronizationSources().map((s) => s.timestamp));
				if (w.prev.has(r) && latest > w.prev.get(r)) {
					const p = w.played.get(r.track) ?? [];
					p.push(now);
					w.played.set(r.track, p.slice(-20));
				}
				w.prev.set(r, latest);
			}
		}
		const playedAt = (track, t) => !!track && (w.played.get(track) ?? []).includes(t);
		// Played at a look before this one, in the 250 ms up to the previous look.
		const fresh = (track) => !!track && (w.played.get(track) ?? []).some((t) => t <= before && t >= before - 250);
		for (const tile of document.querySelectorAll('#grid .tile[data-participant-id]')) {
			const name = tile.querySelector('.label')?.textContent;
			const shown = [...tile.querySelectorAll('video')].find((v) => !v.classList.contains('standby'));
			if (!name || !shown || !shown.srcObject) continue;
			const video = shown.srcObject.getVideoTracks()[0];
			const audio = shown.muted ? null : shown.srcObject.getAudioTracks()[0];
			if (playedAt(video, now)) (w.video[name] ??= []).push(now);
			if (playedAt(audio, now)) (w.audio[name] ??= []).push(now);
			const was = w.shown.get(name);
			w.shown.set(name, shown);
			if (was && was !== shown) {
				(w.swaps[name] ??= []).push({ at: now, direct: shown.dataset.direct !== undefined, videoFresh: fresh(video), audioFresh: fresh(audio) });
			}
		}
	};
	// The client tells the page to swap paths (direct_show): the page's own
	// listener ran first, so a tile that swapped at once shows the new path
	// now. Did that path's media play since the previous look, or at a look
	// in the 250 ms before it?
	client.addEventListener('direct_show', () => {
		const recent = (track) => {
			if (!track) return false;
			for (const target of ['subscriber', 'peer']) {
				const pc = client.peerConnection(target);
				const r = pc && pc.getReceivers().find((r) => r.track === track);
				if (r && w.prev.has(r) && Math.max(0, ...r.getSynchronizationSources().map((s) => s.timestamp)) > w.prev.get(r)) return true;
			}
			return (w.played.get(track) ?? []).some((t) => t >= w.last - 250);
		};
		for (const tile of document.querySelectorAll('#grid .tile[data-participant-id]')) {
			const name = tile.querySelector('.label')?.textContent;
			const shown = [...tile.querySelectorAll('video')].find((v) => !v.classList.contains('standby'));
			if (!name || !shown || !shown.srcObject || !w.shown.has(name) || w.shown.get(name) === shown) continue;
			w.shown.set(name, shown);
			const video = shown.srcObject.getVideoTracks()[0];
			const audio = shown.muted ? null : shown.srcObject.getAudioTracks()[0];
			(w.swaps[name] ??= []).push({ at: clock(), direct: shown.dataset.direct !== undefined, videoFresh: recent(video), audioFresh: recent(audio) });
		}
	});
	// When the page's own encoders (to the server, to the peer) put out a
	// video frame, looked at every 100 ms.
	w.encoded = [];
	let encodedBefore = -1;
	setInterval(async () => {
		let n = 0;
		for (const target of ['publisher', 'peer']) {
			const pc = client.peerConnection(target);
			if (!pc) continue;
			(await pc.getStats()).forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.framesEncoded || 0; });
		}
		if (n !== encodedBefore) w.encoded.push(clock());
		encodedBefore = n;
	}, 100);
	w.report = (from, name) => ({ now: clock(), errors: w.errors, lookGap: w.lookGap, late: w.late.filter((l) => l[1] >= from), encoded: w.encoded.filter((t) => t >= from), video: (w.video[name] ?? []).filter((t) => t >= from),
		audio: (w.audio[name] ?? []).filter((t) => t >= from), swaps: (w.swaps[name] ?? []).filter((s) => s.at >= from) });
	return true;
})()`

// checkGaps measures, for each of the two pages since from, the longest
// time without a frame of the other's video decoded on the path its tile
// shows, and without its audio played out, each less the time either
// browser was stalled (its own camera preview presented nothing, its
// encoders, to the server and to the peer, put out nothing, or the watch
// itself could not look for 150 ms). With
// swapTo "server" or "direct", the pages are switching path: each must
// have swapped its tile of the other to that path once, while the new
// path's video and audio already played, and neither gap may be over
// maxSwitchGap (video) or maxAudioGap. The frames the element shown
// presented (requestVideoFrameCallback, measureGaps) are logged only: on
// this busy machine a page's compositor sometimes presents nothing of a
// remote video for a second while its decoder and its own preview go on,
// whatever the path.
func checkGaps(t *testing.T, what string, pages []*browser, names []string, from float64, swapTo string) {
	t.Helper()
	gaps := measureGaps(t, pages, names, from)
	reports := make([]pathReport, len(pages))
	var stalls []interval
	for i, g := range gaps {
		r, err := eval[pathReport](pages[i], fmt.Sprintf(`window.pathWatch.report(%f, %q)`, from, names[1-i]))
		if err != nil {
			t.Fatalf("%s: path watch: %v", names[i], err)
		}
		reports[i] = r
		for _, s := range gapsBetween(g.watch.Local, from, g.watch.Now) {
			if s.to-s.from > stallGap {
				stalls = append(stalls, s)
			}
		}
		for _, l := range r.Late {
			stalls = append(stalls, interval{l[0], l[1]})
		}
		// A sender whose encoders both stopped was held up by the machine:
		// what the other decodes of it stops whatever the path.
		for _, s := range gapsBetween(r.Encoded, from, r.Now) {
			if s.to-s.from > encoderStallGap {
				stalls = append(stalls, s)
			}
		}
	}
	longest := func(times []float64, from, to float64) (less, full, at float64) {
		for _, s := range gapsBetween(times, from, to) {
			full = max(full, s.to-s.from)
			if d := s.to - s.from - overlap(stalls, s); d > less {
				less, at = d, s.from-from
			}
		}
		return less, full, at
	}
	ms := func(v float64) time.Duration {
		return time.Duration(v * float64(time.Millisecond)).Round(time.Millisecond)
	}
	for i, g := range gaps {
		other, r := names[1-i], reports[i]
		decoded, decodedFull, decodedAt := longest(r.Video, from, r.Now)
		audio, audioFull, audioAt := longest(r.Audio, from, r.Now)
		t.Logf("%s, %s: %d frames of %s shown, the longest gap %.0f ms less the browsers' stalls (%.0f in full); %d decoded on the path shown, the longest gap %.0f ms at %.0f (%.0f in full); audio played in %d looks, the longest gap %.0f ms at %.0f (%.0f); swaps %s; looks at most %.0f ms apart, errors %q; %s",
			what, names[i], g.frames, other, g.max, g.maxRaw, len(r.Video), decoded, decodedAt, decodedFull, len(r.Audio), audio, audioAt, audioFull, swaps(r.Swaps, from), r.LookGap, r.Errors, g.detail)
		if swapTo == "" {
			continue
		}
		// The switch: until a second after the tile swapped. Then, until
		// a second after the old path closed, a looser bound (see
		// maxSettleGap).
		swapAt := r.Now
		if len(r.Swaps) == 1 {
			swapAt = r.Swaps[0].At
		}
		atSwitch, _, atSwitchAt := longest(r.Video, from, min(swapAt+1000, r.Now))
		t.Logf("%s, %s: at the switch (to 1 s after the swap) the longest gap in frames decoded of %s was %.0f ms at %.0f, less stalls", what, names[i], other, atSwitch, atSwitchAt)
		for _, c := range []struct {
			what string
			gap  float64
			n    int
			max  time.Duration
		}{
			{"a frame decoded at the switch", atSwitch, len(r.Video), maxSwitchGap},
			{"a frame decoded until the old path closed", decoded, len(r.Video), maxSettleGap},
			{"audio played", audio, len(r.Audio), maxAudioGap},
		} {
			if ms(c.gap) > c.max || c.n == 0 {
				t.Errorf("%s: %s went %v without %s of %s (%d in all), want at most %v", what, names[i], ms(c.gap), c.what, other, c.n, c.max)
			}
		}
		if len(r.Swaps) != 1 || r.Swaps[0].Direct != (swapTo == "direct") {
			t.Errorf("%s: %s swapped its tile of %s %+v, want once to the %s's media", what, names[i], other, r.Swaps, swapTo)
			continue
		}
		if sw := r.Swaps[0]; !sw.VideoFresh || !sw.AudioFresh {
			t.Errorf("%s: %s swapped to the %s's media of %s before it played (video playing %v, audio %v): not make before break", what, names[i], swapTo, other, sw.VideoFresh, sw.AudioFresh)
		}
	}
}

// overlap is how much of g the union of stalls covers, in ms.
func overlap(stalls []interval, g interval) float64 {
	sorted := slices.Clone(stalls)
	slices.SortFunc(sorted, func(x, y interval) int { return cmp.Compare(x.from, y.from) })
	sum, end := 0.0, g.from
	for _, s := range sorted {
		a, b := max(s.from, end), min(s.to, g.to)
		if b > a {
			sum += b - a
			end = b
		}
	}
	return sum
}

// swaps describes swaps with times since from.
func swaps(sw []swapReport, from float64) string {
	var out []string
	for _, s := range sw {
		to := "server"
		if s.Direct {
			to = "direct"
		}
		out = append(out, fmt.Sprintf("to the %s at %.0f ms (video playing %v, audio %v)", to, s.At-from, s.VideoFresh, s.AudioFresh))
	}
	return "[" + strings.Join(out, ", ") + "]"
}
