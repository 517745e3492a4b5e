package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file. Parse and Load return
// all of them at once, joined with errors.Join; errors.As finds the first and
// the joined error's Unwrap() []error lists each.
type Error struct {
	File string // the path as given to Load or Parse; "" if none
	Line int    // 1-based line in File; 0 when unknown
	Path string // YAML path, e.g. "tunnels[1].listen"; "" for the file as a whole
	Msg  string // what is wrong, complete (includes Err's text)
	Err  error  // underlying error, if any (e.g. from router/data)
}

// Error formats the problem as "file:line: path: msg", the way compilers do,
// so editors can jump to it.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// problems collects errors and warnings for one file, with the line of every
// YAML path the decoder saw, so validation (which works on Go values) can
// still point at lines.
type problems struct {
	file  string
	lines map[string]int  // YAML path -> line of its key (or list item)
	bad   map[string]bool // paths whose value did not decode
	errs  []*Error
	warns []*Error
}

func newProblems(file string) *problems {
	return &problems{file: file, lines: map[string]int{}, bad: map[string]bool{}}
}

// errorf records an error at path unless path (or a parent) already failed
// to decode: one mistake should produce one message, not a cascade.
func (p *problems) errorf(path, format string, args ...any) {
	p.add(&p.errs, path, nil, fmt.Sprintf(format, args...))
}

// wrapf is errorf keeping err for errors.Is/As; the message must include
// err's text (pass it as the last %v).
func (p *problems) wrapf(path string, err error, format string, args ...any) {
	p.add(&p.errs, path, err, fmt.Sprintf(format, args...))
}

// errorAt records an error at an explicit line (for problems the path alone
// does not locate, like a repeated key).
func (p *problems) errorAt(line int, path, format string, args ...any) {
	if p.failed(path) {
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// warnf records a warning; warnings never stop a file from loading.
func (p *problems) warnf(path, format string, args ...any) {
	p.add(&p.warns, path, nil, fmt.Sprintf(format, args...))
}

func (p *problems) add(list *[]*Error, path string, err error, msg string) {
	if p.failed(path) {
		return
	}
	*list = append(*list, &Error{File: p.file, Line: p.lineOf(path), Path: path, Msg: msg, Err: err})
}

// failed reports whether path or one of its parents did not decode.
func (p *problems) failed(path string) bool {
	for q := path; q != ""; q = parent(q) {
		if p.bad[q] {
			return true
		}
	}
	return false
}

// lineOf is the line of path, or of its nearest parent that appears in the
// file (a missing key is reported at the line of its mapping).
func (p *problems) lineOf(path string) int {
	for q := path; q != ""; q = parent(q) {
		if l, ok := p.lines[q]; ok {
			return l
		}
	}
	return 0
}

// result returns the errors joined in line order (nil if none) and the
// warnings as strings.
func (p *problems) result() (error, []string) {
	byLine := func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) }
	slices.SortStableFunc(p.errs, byLine)
	slices.SortStableFunc(p.warns, byLine)
	var warns []string
	for _, w := range p.warns {
		warns = append(warns, w.Error())
	}
	if len(p.errs) == 0 {
		return nil, warns
	}
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...), warns
}

// Path helpers. Paths look like `tunnels[1].options["i2cp.x"]`: keys of
// structs joined by dots, list items as [i], map keys quoted with
// strconv.Quote (they may contain dots).

func field(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func item(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func mapKey(path, key string) string { return path + "[" + strconv.Quote(key) + "]" }

// parent strips the last element of a path built by the helpers above.
func parent(path string) string {
	if strings.HasSuffix(path, `"]`) {
		// Find the opening quote: the first '"' before the closing one
		// that is not escaped (strconv.Quote escapes '"' and '\').
		for i := len(path) - 3; i >= 1; i-- {
			if path[i] != '"' {
				continue
			}
			bs := 0
			for j := i - 1; j >= 0 && path[j] == '\\'; j-- {
				bs++
			}
			if bs%2 == 1 {
				continue // an escaped quote inside the key
			}
			if path[i-1] == '[' {
				return path[:i-1]
			}
			return ""
		}
		return ""
	}
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}
