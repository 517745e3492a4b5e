package naming

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode"

	"i2pbridge/router/data"
)

// MaxLineLen bounds one hosts.txt line. The longest legitimate line is an
// entry with a second destination and two signatures in its extension
// fields (subscription.rst "changedest"): about 2.5 KiB with the largest
// key types. Longer lines are reported and skipped without being buffered.
const MaxLineLen = 16 << 10

// Props are the "#!key=value#..." extension fields of a hosts.txt line
// (subscription.rst). Keys are case-sensitive and unique.
type Props map[string]string

// Entry is one name → destination mapping.
type Entry struct {
	// Name is normalized (see NormalizeName).
	Name string
	Dest data.Destination
	// Props are the extension fields of the line, nil when it had none.
	Props Props
}

// LineKind tells what a parsed hosts.txt line holds.
type LineKind int

// Line kinds.
const (
	// LineEmpty is a blank or comment line.
	LineEmpty LineKind = iota + 1
	// LineEntry is "name=dest" with optional extension fields.
	LineEntry
	// LineCommand is a "#!k=v#..." line without an entry (for example a
	// subscription "action=remove" command).
	LineCommand
)

func (k LineKind) String() string {
	switch k {
	case LineEmpty:
		return "empty"
	case LineEntry:
		return "entry"
	case LineCommand:
		return "command"
	}
	return fmt.Sprintf("LineKind(%d)", int(k))
}

// Line is one parsed hosts.txt line.
type Line struct {
	Kind LineKind
	// Entry is set for LineEntry; for LineCommand only Entry.Props is.
	Entry Entry
}

// propsMarker starts the extension fields (subscription.rst).
const propsMarker = "#!"

// ParseLine parses one hosts.txt line (without its line break; surrounding
// white space is ignored). See the package documentation for the format.
func ParseLine(line string) (Line, error) {
	s := strings.TrimSpace(line)
	if s == "" || s[0] == ';' {
		return Line{Kind: LineEmpty}, nil
	}
	kv, rest, hasHash := strings.Cut(s, "#")
	var props Props
	if hasHash && strings.HasPrefix(rest, "!") && len(rest) > 1 {
		var err error
		if props, err = parseProps(rest[1:]); err != nil {
			return Line{}, err
		}
	}
	if kv == "" {
		if props == nil {
			return Line{Kind: LineEmpty}, nil // a plain comment
		}
		return Line{Kind: LineCommand, Entry: Entry{Props: props}}, nil
	}
	name, dest, ok := strings.Cut(kv, "=")
	if !ok {
		return Line{}, fmt.Errorf("%w: no '=' between name and destination", ErrSyntax)
	}
	e, err := newEntry(strings.TrimSpace(name), strings.TrimSpace(dest))
	if err != nil {
		return Line{}, err
	}
	e.Props = props
	return Line{Kind: LineEntry, Entry: e}, nil
}

// newEntry validates a name and a base64 destination.
func newEntry(name, dest string) (Entry, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return Entry{}, err
	}
	d, err := parseDestination(dest)
	if err != nil {
		return Entry{}, fmt.Errorf("%s: %w", n, err)
	}
	return Entry{Name: n, Dest: d}, nil
}

// parseDestination decodes a base64 destination, bounded before decoding.
func parseDestination(s string) (data.Destination, error) {
	if len(s) > MaxDestinationBase64 {
		return data.Destination{}, fmt.Errorf("%w: %d base64 characters, at most %d allowed", ErrInvalidDestination, len(s), MaxDestinationBase64)
	}
	d, err := data.ParseDestinationBase64(s)
	if err != nil {
		return data.Destination{}, fmt.Errorf("%w: %w", ErrInvalidDestination, err)
	}
	return d, nil
}

// parseProps parses "k=v#k2=v2". Values may contain '=' (base64 padding)
// but not '#', which separates fields.
func parseProps(s string) (Props, error) {
	p := Props{}
	for field := range strings.SplitSeq(s, "#") {
		k, v, ok := strings.Cut(field, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: extension field %q has no '='", ErrSyntax, field)
		case k == "":
			return nil, fmt.Errorf("%w: extension field %q has an empty key", ErrSyntax, field)
		case strings.IndexFunc(field, unicode.IsSpace) >= 0:
			// Nothing in the specification contains blanks, and writing
			// them back would not round-trip through TrimSpace.
			return nil, fmt.Errorf("%w: extension field %q contains white space", ErrSyntax, field)
		}
		if _, dup := p[k]; dup {
			return nil, fmt.Errorf("%w: extension key %q given twice", ErrSyntax, k)
		}
		p[k] = v
	}
	return p, nil
}

// AppendEntry appends e as one hosts.txt line, extension fields sorted by
// key, followed by '\n'. The output parses back to an equal Entry.
func AppendEntry(b []byte, e Entry) []byte {
	b = append(b, e.Name...)
	b = append(b, '=')
	b = append(b, e.Dest.Base64()...)
	if len(e.Props) > 0 {
		b = append(b, propsMarker...)
		for i, k := range slices.Sorted(maps.Keys(e.Props)) {
			if i > 0 {
				b = append(b, '#')
			}
			b = append(b, k...)
			b = append(b, '=')
			b = append(b, e.Props[k]...)
		}
	}
	return append(b, '\n')
}

// LineError is a hosts.txt line that was not used.
type LineError struct {
	// Path is the file ("" when reading a stream).
	Path string
	// Line is 1-based.
	Line int
	Err  error
}

func (e *LineError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// ErrLineTooLong reports a line longer than MaxLineLen.
var ErrLineTooLong = errors.New("naming: hosts.txt line too long")

// ReadBook reads a hosts.txt stream into a new Book. Lines that are not
// used (malformed, invalid names or destinations, a name repeated with a
// different destination) never stop the read; each is returned in skipped.
// Commands ("#!" lines without an entry) are parsed but not applied. err is
// non-nil only when r fails.
func ReadBook(r io.Reader) (b *Book, skipped []*LineError, err error) {
	b = NewBook()
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		raw, tooLong, rerr := readLine(br)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, nil, fmt.Errorf("naming: read hosts.txt line %d: %w", lineNo, rerr)
		}
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // UTF-8 BOM
		}
		switch {
		case tooLong:
			skipped = append(skipped, &LineError{Line: lineNo, Err: fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, MaxLineLen)})
		case len(raw) > 0:
			if lerr := b.addLine(string(raw)); lerr != nil {
				skipped = append(skipped, &LineError{Line: lineNo, Err: lerr})
			}
		}
		if rerr != nil { // io.EOF
			return b, skipped, nil
		}
	}
}

// readLine returns the next line without its line break. A line longer
// than MaxLineLen is consumed and discarded (tooLong), so a hostile feed
// cannot make the reader buffer it. err is io.EOF with the last line (which
// may be empty or lack its line break).
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var buf []byte
	for first := true; ; first = false {
		chunk, err := br.ReadSlice('\n')
		if first && err == nil && len(chunk) <= MaxLineLen+len("\r\n") {
			// The common case: the whole line is in the reader's buffer.
			// It stays valid until the next read, and the caller copies
			// it (string conversion) before that.
			return bytes.TrimRight(chunk, "\r\n"), false, nil
		}
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineLen+len("\r\n") {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		return bytes.TrimRight(buf, "\r\n"), tooLong, err
	}
}

// addLine parses one line and adds its entry to b.
func (b *Book) addLine(line string) error {
	l, err := ParseLine(line)
	if err != nil {
		return err
	}
	if l.Kind != LineEntry {
		return nil
	}
	if existing, ok := b.Lookup(l.Entry.Name); ok {
		if existing.Dest == l.Entry.Dest {
			return nil
		}
		return fmt.Errorf("%w: %s already maps to %s on an earlier line; keeping that one", ErrDuplicate, l.Entry.Name, existing.Dest.B32())
	}
	b.put(l.Entry)
	return nil
}
