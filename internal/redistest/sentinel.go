package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sentinel starts one Redis Sentinel (redis-server --sentinel) watching
// master under the given name, and returns its address once it reports
// the master.
func Sentinel(t testing.TB, master *Instance, name string) string {
	t.Helper()
	host, port, _ := strings.Cut(master.Addr, ":")
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	// Sentinel rewrites its configuration file, so it gets its own.
	body := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 2000\n", name, host, port, name)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	i := startWith(t, []string{conf, "--sentinel"}, nil)
	deadline := time.Now().Add(readyTimeout)
	for {
		reply, err := Command(i.Addr, "SENTINEL", "CKQUORUM", name)
		if err == nil && strings.HasPrefix(reply, "OK") {
			return i.Addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel on %s does not see %s: %v", i.Addr, name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
