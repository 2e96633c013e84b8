package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise the module's version.
var version = ""

// serverUsage is what `sfu --help` prints before the flags.
const serverUsage = `Usage:
  sfu [flags]          run the server
  sfu token [flags]    mint an access token (sfu token --help)
  sfu version          print the version and build (also --version)

Settings apply in increasing precedence: defaults, the YAML file (--config),
environment variables, flags. README.md lists every YAML key.

Flags:
`

// tokenUsage is what `sfu token --help` prints before the flags.
const tokenUsage = `Usage:
  sfu token --room ROOM --identity ID [flags]   a participant's token
  sfu token --admin --identity ID [flags]       an operator's token, for no room

Prints an access token signed with one of the API keys.

Flags:
`

// setUsage makes fs print head, then each flag with its argument, its
// meaning and one default, to w.
func setUsage(fs *flag.FlagSet, w io.Writer, head string) {
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, head)
		fs.VisitAll(func(f *flag.Flag) {
			arg, meaning := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if !isBoolFlag(f) {
				line += " " + arg
			}
			// Flags whose zero value stands for "not set" name their
			// default in their text; the others are named here.
			if !strings.Contains(meaning, "default") && f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				meaning += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(w, "%s\n      %s\n", line, meaning)
		})
	}
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseBool reads a boolean from an environment variable: as
// strconv.ParseBool does, and yes/no, on/off in any case.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "on":
		return true, nil
	case "no", "off":
		return false, nil
	}
	return strconv.ParseBool(strings.TrimSpace(v))
}

// versionText is the version line: the release, the commit it was built
// from (and whether the tree was modified), and the Go toolchain.
func versionText() string {
	v, rev, at, dirty := version, "", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	build := ""
	if rev != "" && !strings.Contains(v, rev[:min(len(rev), 12)]) {
		build = " commit " + rev[:min(len(rev), 12)]
		if dirty {
			build += "+modified"
		}
		if at != "" {
			build += " " + at
		}
	}
	return fmt.Sprintf("sfu %s%s %s %s/%s", v, build, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
