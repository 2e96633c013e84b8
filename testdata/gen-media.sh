#!/usr/bin/env bash
# Generates the sample media the load harness publishes (loadtest.LoadSamples)
# into loadtest/testdata/media/, from ffmpeg's own synthetic sources:
#
#   q.ivf, h.ivf, f.ivf  VP8 at 320x180, 640x360 and 1280x720, ~150 kbit/s,
#                        ~500 kbit/s and ~1.7 Mbit/s: the three simulcast
#                        layers a browser sends. One 4 s clip of testsrc2 (a
#                        moving pattern) at 30 fps, scaled to each size, so
#                        every layer has the same 120 frames. Realtime encoder
#                        settings as in a browser (no alt-ref, no lag, error
#                        resilient, CBR); a keyframe every 60 frames (2 s),
#                        frame 0 always one, so the clip loops cleanly and a
#                        publisher can restart all layers at frame 0 when it
#                        is asked for a keyframe.
#   audio.ogg            Opus in Ogg, 48 kHz mono, 20 ms packets, 32 kbit/s
#                        (constrained VBR: a pure tone overshoots in VBR):
#                        a beeping 440 Hz sine, cut to 200 packets (the
#                        encoder's look-ahead would add a 201st) so that
#                        audio and video loop together.
#
# The outputs are committed; rerun this only to change them. It is
# idempotent and deterministic: the sources have no randomness, the encoders
# run on one thread with a fixed speed (libvpx's realtime speed is otherwise
# adapted to the time each frame takes), and bitexact flags keep version
# strings and a random Ogg serial number out of the files, so a rerun with
# the same ffmpeg writes the same bytes.
#
# Installs ffmpeg with apt-get when it is missing (root, Debian).
set -euo pipefail

cd "$(dirname "$0")/.."
out=loadtest/testdata/media

if ! command -v ffmpeg >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "gen-media: ffmpeg is missing; install it (Debian: apt-get install -y ffmpeg)" >&2
    exit 1
  fi
  echo "gen-media: installing ffmpeg"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi

seconds=4
fps=30
ffmpeg=(ffmpeg -hide_banner -loglevel error -nostdin -y)

# Written to a scratch folder and moved in at the end, so a failed run
# leaves the committed files as they were.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# vp8 NAME WIDTH HEIGHT KBITS encodes one layer.
vp8() {
  local name=$1 w=$2 h=$3 kbits=$4
  "${ffmpeg[@]}" \
    -f lavfi -i "testsrc2=size=1280x720:rate=$fps:duration=$seconds" \
    -vf "scale=$w:$h:flags=bicubic,format=yuv420p" \
    -c:v libvpx -threads 1 -flags +bitexact \
    -deadline realtime -cpu-used -6 -error-resilient 1 -auto-alt-ref 0 -lag-in-frames 0 \
    -b:v "${kbits}k" -minrate "${kbits}k" -maxrate "${kbits}k" -bufsize "$((kbits * 2))k" \
    -g $((2 * fps)) -keyint_min $((2 * fps)) \
    -fflags +bitexact -f ivf "$tmp/$name.ivf"
}

vp8 q 320 180 150
vp8 h 640 360 500
vp8 f 1280 720 1700

"${ffmpeg[@]}" \
  -f lavfi -i "sine=frequency=440:beep_factor=2:sample_rate=48000:duration=$seconds" \
  -c:a libopus -threads 1 -flags +bitexact -b:a 32k -vbr constrained -frame_duration 20 -application voip -ac 1 \
  -frames:a $((seconds * 50)) \
  -fflags +bitexact -f ogg "$tmp/audio.ogg"

mkdir -p "$out"
mv "$tmp"/q.ivf "$tmp"/h.ivf "$tmp"/f.ivf "$tmp"/audio.ogg "$out"/
ls -l "$out"
