package model

// Head holds the weights of a CLIP4Clip similarity head beyond CLIP's own.
type Head struct{}

// newHead loads the head cfg.Head describes; meanP has no weights.
func newHead(p *params, cfg Config) (*Head, error) {
	return nil, nil
}
