package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfu-project/sfu/internal/node"
)

// TestDataConfigYAML: the application data limits are set under
// sfu.data, and a limit the server cannot work with is refused.
func TestDataConfigYAML(t *testing.T) {
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "sfu.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := node.LoadConfig(write(`
sfu:
  data:
    max_message: 32768
    max_buffered: 524288
    lossy_buffered: 16384
    messages_per_second: 100
    message_burst: 200
    bytes_per_second: 1048576
    byte_burst: 2097152
`))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.SFU.Data
	if d.MaxMessage != 32768 || d.MaxBuffered != 524288 || d.LossyBuffered != 16384 || d.MessagesPerSecond != 100 ||
		d.MessageBurst != 200 || d.BytesPerSecond != 1048576 || d.ByteBurst != 2097152 {
		t.Fatalf("decoded %+v", d)
	}
	if err := cfg.SFU.Validate(); err != nil {
		t.Fatal(err)
	}
	if def := node.Default().SFU.Data; def.MaxMessage != 64<<10 || def.MaxBuffered != 1<<20 {
		t.Errorf("defaults %+v, want 64 KiB messages and 1 MiB buffered", def)
	}
	cfg.SFU.Data.MaxBuffered = 1000 // less than a message
	if err := cfg.SFU.Validate(); err == nil || !strings.Contains(err.Error(), "max_buffered") {
		t.Errorf("max_buffered below max_message: %v", err)
	}
}
