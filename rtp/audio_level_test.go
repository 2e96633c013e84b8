package rtp

import "testing"

func TestAudioLevel(t *testing.T) {
	tests := []struct {
		name  string
		ext   []byte
		level uint8
		voice bool
		ok    bool
	}{
		{"empty", nil, 0, false, false},
		{"loudest with voice", []byte{0x80}, 0, true, true},
		{"silence without voice", []byte{0x7f}, 127, false, true},
		{"-30 dBov with voice", []byte{0x80 | 30}, 30, true, true},
		{"-30 dBov without voice", []byte{30}, 30, false, true},
		{"two-byte form padding ignored", []byte{0x85, 0x00}, 5, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			level, voice, ok := AudioLevel(tt.ext)
			if level != tt.level || voice != tt.voice || ok != tt.ok {
				t.Fatalf("AudioLevel(% x) = (%d, %v, %v), want (%d, %v, %v)",
					tt.ext, level, voice, ok, tt.level, tt.voice, tt.ok)
			}
		})
	}
}

func TestAudioLevelAllocs(t *testing.T) {
	ext := []byte{0x9e}
	if n := testing.AllocsPerRun(1000, func() { AudioLevel(ext) }); n != 0 {
		t.Fatalf("AudioLevel allocates %v times per call", n)
	}
}
