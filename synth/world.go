package synth

import "math"

// Kinds are the object shapes, by their plain names.
var Kinds = []string{"square", "circle", "triangle", "star", "cross", "ring", "diamond"}

// Colors are the object colours, by their plain names.
var Colors = []string{"red", "green", "blue", "yellow", "purple", "orange", "white", "black"}

// Sizes are the object sizes, by their plain names.
var Sizes = []string{"small", "big"}

// Backgrounds are the background styles, by their plain names.
var Backgrounds = []string{"gray", "light gray", "dark gray", "striped", "checkered", "gradient", "noisy"}

// Event kinds: what an object does during an event.
const (
	MoveLeft    = "move_left"
	MoveRight   = "move_right"
	MoveUp      = "move_up"
	MoveDown    = "move_down"
	Grow        = "grow"
	Shrink      = "shrink"
	Spin        = "spin"   // only shapes that look different when turned
	Bounce      = "bounce" // hops up and comes back down, one or more times
	Appear      = "appear"
	Disappear   = "disappear"
	ChangeColor = "change_color" // Event.To names the new colour
	Still       = "still"        // does nothing (only beside other objects)
)

// EventKinds lists every event kind.
var EventKinds = []string{MoveLeft, MoveRight, MoveUp, MoveDown, Grow, Shrink, Spin, Bounce, Appear, Disappear, ChangeColor, Still}

// Synonyms: the first word of each list is the plain one, used most often
// and in the canonical descriptions of events.
var (
	kindWords = [][]string{
		{"square", "box", "block"},
		{"circle", "ball", "disc", "dot"},
		{"triangle"},
		{"star"},
		{"cross", "plus sign", "plus"},
		{"ring", "donut", "hoop"},
		{"diamond", "rhombus"},
	}
	colorWords = [][]string{
		{"red", "crimson", "scarlet"},
		{"green", "emerald"},
		{"blue", "azure"},
		{"yellow", "golden"},
		{"purple", "violet"},
		{"orange", "amber"},
		{"white", "snow-white"},
		{"black", "jet-black"},
	}
	sizeWords = [][]string{
		{"small", "tiny", "little"},
		{"big", "large", "huge"},
	}
	backgroundWords = [][]string{
		{"gray", "grey"},
		{"light gray", "pale gray", "light grey"},
		{"dark gray", "dark", "dark grey"},
		{"striped", "stripy"},
		{"checkered", "checkerboard"},
		{"gradient", "shaded"},
		{"noisy", "grainy", "speckled"},
	}
	// verbWords are third-person verb phrases; %s is the new colour.
	verbWords = map[string][]string{
		MoveLeft:    {"moves left", "moves to the left", "slides left", "slides to the left", "goes left", "drifts leftwards", "travels to the left", "heads left"},
		MoveRight:   {"moves right", "moves to the right", "slides right", "slides to the right", "goes right", "drifts rightwards", "travels to the right", "heads right"},
		MoveUp:      {"moves up", "moves upwards", "rises", "goes up", "floats up", "slides up", "climbs"},
		MoveDown:    {"moves down", "moves downwards", "falls", "goes down", "sinks", "slides down", "drops"},
		Grow:        {"grows", "gets bigger", "expands", "grows larger", "becomes bigger", "swells"},
		Shrink:      {"shrinks", "gets smaller", "becomes smaller", "contracts", "shrinks down"},
		Spin:        {"spins", "rotates", "spins around", "turns around", "twirls"},
		Bounce:      {"bounces", "bounces up and down", "hops", "jumps up and down"},
		Appear:      {"appears", "fades in", "shows up", "comes into view", "pops into view"},
		Disappear:   {"disappears", "fades out", "vanishes", "fades away"},
		ChangeColor: {"turns %s", "becomes %s", "changes colour to %s", "changes color to %s", "changes to %s"},
		Still:       {"stays still", "does not move", "sits still", "stays in place", "rests"},
	}
)

// rgb is a colour with channels in [0, 1].
type rgb [3]float64

var palette = []rgb{
	{0.90, 0.10, 0.10}, // red
	{0.10, 0.72, 0.20}, // green
	{0.15, 0.30, 0.95}, // blue
	{0.97, 0.90, 0.10}, // yellow
	{0.60, 0.18, 0.80}, // purple
	{1.00, 0.55, 0.05}, // orange
	{1.00, 1.00, 1.00}, // white
	{0.03, 0.03, 0.03}, // black
}

// Shapes, in the order of Kinds.
const (
	square = iota
	circle
	triangle
	star
	cross
	ring
	diamond
)

// Radii of the sizes, as fractions of the frame side. Every shape lies
// within bound times its radius, however it is turned.
var sizeRadius = []float64{0.105, 0.165}

const bound = 1.25

// minRadius is the smallest radius shrinking leaves.
const minRadius = 0.065

// symmetry is the turn that maps each shape onto itself (0: any turn).
var symmetry = []float64{
	square:   math.Pi / 2,
	circle:   0,
	triangle: 2 * math.Pi / 3,
	star:     2 * math.Pi / 5,
	cross:    math.Pi / 2,
	ring:     0,
	diamond:  math.Pi,
}

// canSpin reports whether turning shows on a shape.
func canSpin(kind int) bool { return symmetry[kind] > 0 }
