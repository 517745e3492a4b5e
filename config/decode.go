package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder walks a yaml.Node tree and fills Go values by reflection over
// their `yaml:` tags. yaml.v3's own strict decoding (KnownFields) stops at
// the first shape error and names Go types, not YAML paths; walking the
// nodes ourselves gives every problem at once with its path and line, and
// new fields added to the structs are picked up without touching this file.

// The visit budget bounds the work of expanding aliases and merge keys: a
// few hundred bytes of nested `<<: [*a, *a, ...]` would otherwise expand to
// billions of nodes. A real file visits each of its nodes about once, plus a
// few more for every reuse of an anchor (a shared pool or base tunnel), so
// visitsPerNode times the node count plus some slack is plenty.
const (
	visitsPerNode = 16
	visitsSlack   = 100000
)

// countNodes counts the nodes of a document as written (aliases count once,
// not expanded).
func countNodes(n *yaml.Node) int {
	count := 0
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		count++
		stack = append(stack, n.Content...)
	}
	return count
}

var durationType = reflect.TypeFor[Duration]()

type decoder struct {
	*problems
	visits    int
	maxVisits int
	// active holds the anchors being expanded right now, so an alias used
	// inside its own anchor (`&a {<<: *a}`) is an error, not a loop.
	active map[*yaml.Node]bool
	stop   bool // visit budget exhausted; everything after is skipped
}

// yamlLine matches yaml.v3 syntax errors, which carry the line in the text.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument decodes data into a single YAML document node. It rejects
// empty input and more than one document (a second `---` is almost always a
// concatenation mistake, and silently ignoring it would drop tunnels).
func parseDocument(p *problems, data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf("", "file is empty (it needs at least a tunnels: list)")
		} else {
			syntaxError(p, err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		syntaxError(p, err)
		return nil
	default:
		line := next.Line
		if len(next.Content) > 0 {
			line = next.Content[0].Line
		}
		p.errs = append(p.errs, &Error{File: p.file, Line: line,
			Msg: "a second YAML document (after ---); put all tunnels in one document"})
		return nil
	}
	return &doc
}

// parserProblems are the problems yaml.v3's parser (as opposed to its
// scanner) reports. For these it prints the 0-based line of the enclosing
// construct without adding one, so the true line is one more.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

func syntaxError(p *problems, err error) {
	e := &Error{File: p.file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			if parserProblems[m[2]] {
				n++
			}
			e.Line, e.Msg = n, "invalid YAML: "+m[2]
		}
	}
	p.errs = append(p.errs, e)
}

// decodeFile fills f from a document node. Problems go to p; f holds
// whatever decoded. It returns false if the document was not worth
// validating (not a mapping, or the visit budget ran out).
func decodeFile(p *problems, doc *yaml.Node, f *File) bool {
	d := &decoder{problems: p, active: map[*yaml.Node]bool{},
		maxVisits: visitsPerNode*countNodes(doc) + visitsSlack}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		p.errs = append(p.errs, &Error{File: p.file, Line: root.Line,
			Msg: "file is empty (it needs at least a tunnels: list)"})
		return false
	}
	if root.Kind != yaml.MappingNode {
		p.errs = append(p.errs, &Error{File: p.file, Line: root.Line,
			Msg: fmt.Sprintf("expected a mapping with router:, control: and tunnels:, found %s", describe(root))})
		return false
	}
	d.value("", root.Line, root, reflect.ValueOf(f).Elem())
	return !d.stop
}

// fail marks path as undecodable and reports why.
func (d *decoder) fail(path, format string, args ...any) {
	d.errorf(path, format, args...)
	d.bad[path] = true
}

// spend counts one visited node; false once the budget is gone.
func (d *decoder) spend() bool {
	if d.stop {
		return false
	}
	d.visits++
	if d.visits > d.maxVisits {
		d.stop = true
		d.errs = append(d.errs, &Error{File: d.file,
			Msg: "document is too complex (excessive aliases or merge keys)"})
		return false
	}
	return true
}

// deref follows an alias to its anchor. The caller must call the returned
// release once done with the node.
func (d *decoder) deref(path string, n *yaml.Node) (*yaml.Node, func(), bool) {
	if n.Kind != yaml.AliasNode {
		return n, func() {}, true
	}
	t := n.Alias
	if t == nil || t.Kind == yaml.AliasNode {
		d.fail(path, "alias *%s has no anchor", n.Value)
		return nil, nil, false
	}
	if d.active[t] {
		d.fail(path, "alias *%s is used inside its own anchor", n.Value)
		return nil, nil, false
	}
	d.active[t] = true
	return t, func() { delete(d.active, t) }, true
}

// value decodes n into v. line is where the value's key (or list item)
// stands; path is its YAML path.
func (d *decoder) value(path string, line int, n *yaml.Node, v reflect.Value) {
	if !d.spend() {
		return
	}
	n, release, ok := d.deref(path, n)
	if !ok {
		return
	}
	defer release()

	if v.Type() == durationType {
		d.duration(path, n, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return
		}
		ptr := reflect.New(v.Type().Elem())
		d.value(path, line, n, ptr.Elem())
		v.Set(ptr)
	case reflect.Struct:
		d.structure(path, n, v)
	case reflect.Slice:
		d.list(path, n, v)
	case reflect.Map:
		d.dict(path, n, v)
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.scalar(path, n, v)
	default:
		// Only reachable if someone adds a field of a kind this walker
		// does not know; TestDecoderHandlesEveryFieldType catches it.
		d.fail(path, "internal error: cannot decode into %s", v.Type())
	}
}

// pair is one key: value entry of a mapping after merge keys are applied.
type pair struct {
	key  string
	line int
	val  *yaml.Node
}

// pairs lists the entries of mapping n: its own keys in order (a repeated
// key is an error), then keys from `<<` merges that it does not set itself,
// earlier merge sources winning, as YAML 1.1 merge keys specify.
func (d *decoder) pairs(path string, n *yaml.Node) ([]pair, bool) {
	var own, merged []pair
	seen := map[string]int{} // key -> line
	var sources []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.spend() {
			return nil, false
		}
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.errorAt(k.Line, path, "keys must be plain words, found %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			sources = append(sources, v)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorAt(k.Line, path, "key %s repeated (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, pair{k.Value, k.Line, v})
	}
	for _, src := range sources {
		// `<<: *a` or `<<: [*a, *b]`.
		src, release, ok := d.deref(path, src)
		if !ok {
			return nil, false
		}
		list := []*yaml.Node{src}
		if src.Kind == yaml.SequenceNode {
			list = src.Content
		}
		for _, m := range list {
			// Count every source: merging an empty mapping many times
			// visits no pair but still costs time.
			if !d.spend() {
				release()
				return nil, false
			}
			m, release, ok := d.deref(path, m)
			if !ok {
				return nil, false
			}
			if m.Kind != yaml.MappingNode {
				release()
				d.errorAt(m.Line, path, "<< merges mappings only, found %s", describe(m))
				d.bad[path] = true
				return nil, false
			}
			ps, ok := d.pairs(path, m)
			release()
			if !ok {
				return nil, false
			}
			for _, p := range ps {
				if _, dup := seen[p.key]; !dup {
					seen[p.key] = p.line
					merged = append(merged, p)
				}
			}
		}
		release()
	}
	return append(own, merged...), true
}

// structure decodes a mapping into a struct, field by `yaml:` tag.
func (d *decoder) structure(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return // `router:` with nothing under it: all defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping (key: value lines), found %s", describe(n))
		return
	}
	ps, ok := d.pairs(path, n)
	if !ok {
		d.bad[path] = true
		return
	}
	fields := yamlFields(v.Type())
	for _, p := range ps {
		fp := field(path, p.key)
		i, ok := fields[p.key]
		if !ok {
			d.lines[fp] = p.line
			d.errorf(fp, "unknown key%s", suggest(p.key, fields))
			continue
		}
		d.lines[fp] = p.line
		d.value(fp, p.line, p.val, v.FieldByIndex(i))
	}
}

// list decodes a sequence into a slice.
func (d *decoder) list(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.MappingNode {
			hint = ` (start each entry with "- ")`
		}
		d.fail(path, "expected a list, found %s%s", describe(n), hint)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, it := range n.Content {
		ip := item(path, i)
		d.lines[ip] = it.Line
		if isNull(it) {
			d.fail(ip, "empty entry")
			continue
		}
		d.value(ip, it.Line, it, s.Index(i))
	}
	v.Set(s)
}

// dict decodes a mapping into a map with string keys.
func (d *decoder) dict(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping (key: value lines), found %s", describe(n))
		return
	}
	ps, ok := d.pairs(path, n)
	if !ok {
		d.bad[path] = true
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(ps))
	for _, p := range ps {
		kp := mapKey(path, p.key)
		d.lines[kp] = p.line
		if isNull(p.val) {
			d.fail(kp, "missing value")
			continue
		}
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(kp, p.line, p.val, e)
		m.SetMapIndex(reflect.ValueOf(p.key).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

// scalar decodes strings, booleans and integers. A string field takes any
// plain scalar as written (`listen: 2222` is the string "2222").
func (d *decoder) scalar(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "expected a single value, found %s", describe(n))
		return
	}
	tag := n.ShortTag()
	if tag == "!!null" {
		v.SetZero()
		return
	}
	switch v.Kind() {
	case reflect.String:
		switch tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			v.SetString(n.Value)
		default:
			d.fail(path, "unsupported YAML tag %s", tag)
		}
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			d.fail(path, "%q is not true or false", n.Value)
			return
		}
		v.SetBool(b)
	default: // integers
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			d.fail(path, "%q is not a whole number", n.Value)
			return
		}
		if v.OverflowInt(i) {
			d.fail(path, "%s is too large", n.Value)
			return
		}
		v.SetInt(i)
	}
}

func (d *decoder) duration(path string, n *yaml.Node, v reflect.Value) {
	dur, err := durationFromNode(n)
	if err != nil {
		d.fail(path, "%v", err)
		return
	}
	v.Set(reflect.ValueOf(dur))
}

// yamlFields maps YAML keys to struct field index paths (for
// reflect.Value.FieldByIndex). The keys of a struct field tagged
// `yaml:",inline"` count as keys of the outer struct, so a group of
// settings (the server protection of config.Tunnel, say) can live in its
// own type and file while the YAML stays flat.
func yamlFields(t reflect.Type) map[string][]int {
	m := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if isInline(f) {
			for k, idx := range yamlFields(f.Type) {
				m[k] = append([]int{i}, idx...)
			}
			continue
		}
		if k := yamlKey(f); k != "" {
			m[k] = []int{i}
		}
	}
	return m
}

// isInline reports whether f is an exported struct field tagged
// `yaml:",inline"`.
func isInline(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return f.IsExported() && f.Type.Kind() == reflect.Struct && slices.Contains(strings.Split(opts, ","), "inline")
}

// yamlKey is the YAML key of a struct field, "" if it is not in YAML.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch tag {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return tag
}

// suggest names the closest known key for a typo, or lists them all.
func suggest[V any](key string, fields map[string]V) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	best, bestDist := "", 3 // farther than 2 edits is not a typo
	for _, k := range known {
		if dist := editDistance(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %s?", best)
	}
	return " (known: " + strings.Join(known, ", ") + ")"
}

// editDistance is the Levenshtein distance, for typo suggestions.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's shape for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	if isNull(n) {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}
