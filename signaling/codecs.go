package signaling

import "fmt"

// Bounds of the codecs a client lists in join: more than any browser
// has, and longer than any MIME type.
const (
	maxJoinCodecs     = 32
	maxJoinCodecBytes = 64
)

// validCodecs checks the video codecs a client says in join that it
// decodes (MIME types such as "video/VP8").
func validCodecs(codecs []string) error {
	if len(codecs) > maxJoinCodecs {
		return fmt.Errorf("%w: join lists %d codecs, at most %d", ErrBadCodecs, len(codecs), maxJoinCodecs)
	}
	for _, c := range codecs {
		if c == "" || len(c) > maxJoinCodecBytes {
			return fmt.Errorf("%w: %q is not a codec's MIME type", ErrBadCodecs, c)
		}
	}
	return nil
}
