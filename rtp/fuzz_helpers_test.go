package rtp

// fuzzReader hands out a fuzz input's bytes, then zeros.
type fuzzReader struct {
	data []byte
	i    int
}

func (r *fuzzReader) more() bool { return r.i < len(r.data) }

func (r *fuzzReader) byte() byte {
	if r.i >= len(r.data) {
		return 0
	}
	r.i++
	return r.data[r.i-1]
}

func (r *fuzzReader) uint16() uint16 { return uint16(r.byte())<<8 | uint16(r.byte()) }

func (r *fuzzReader) uint32() uint32 { return uint32(r.uint16())<<16 | uint32(r.uint16()) }
