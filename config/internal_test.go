package config

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestKindsNameRealKeys keeps the kinds table honest: a typo in a key name
// would make a required field impossible to satisfy (or a forbidden one
// unchecked).
func TestKindsNameRealKeys(t *testing.T) {
	fields := yamlFields(reflect.TypeFor[Tunnel]())
	for name, k := range kinds {
		if k.about == "" {
			t.Errorf("%s: no description", name)
		}
		for _, key := range append(append([]string{}, k.required...), k.forbidden...) {
			if _, ok := fields[key]; !ok {
				t.Errorf("%s names key %q, which Tunnel does not have", name, key)
			}
			if key == "name" || key == "type" {
				t.Errorf("%s: %q is checked for every tunnel", name, key)
			}
		}
		for _, key := range k.required {
			if keyHelp[key] == "" {
				t.Errorf("%s requires %q but keyHelp does not describe it", name, key)
			}
		}
	}
}

// TestDecoderHandlesEveryFieldType walks the File type: a field of a kind
// the decoder does not know would only fail when someone writes it in YAML.
func TestDecoderHandlesEveryFieldType(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		if seen[typ] || typ == durationType {
			return
		}
		seen[typ] = true
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice:
			walk(path, typ.Elem())
		case reflect.Map:
			if typ.Key().Kind() != reflect.String {
				t.Errorf("%s: map keys must be strings", path)
			}
			walk(path, typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				if f := typ.Field(i); yamlKey(f) != "" {
					walk(field(path, yamlKey(f)), f.Type)
				}
			}
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		default:
			t.Errorf("%s: the decoder cannot fill a %s", path, typ)
		}
	}
	walk("", reflect.TypeFor[File]())
}

// TestDecoderGenericShapes exercises kinds File does not use yet (bool,
// lists of scalars, nested maps) so new fields of those kinds just work.
func TestDecoderGenericShapes(t *testing.T) {
	type inner struct {
		On    bool     `yaml:"on"`
		Hosts []string `yaml:"hosts"`
		Small int8     `yaml:"small"`
	}
	type doc struct {
		Inner   inner            `yaml:"inner"`
		ByName  map[string]inner `yaml:"by_name"`
		Wait    Duration         `yaml:"wait"`
		Skipped string           `yaml:"-"`
		Plain   string
	}
	tests := []struct {
		yaml    string
		want    doc
		wantErr string
	}{
		{"inner: {on: true, hosts: [a, b], small: -3}\nwait: 1m\nplain: p\n",
			doc{Inner: inner{On: true, Hosts: []string{"a", "b"}, Small: -3}, Wait: Duration(time.Minute), Plain: "p"}, ""},
		{"by_name: {x: {on: false}}\n", doc{ByName: map[string]inner{"x": {}}}, ""},
		{"inner: {on: yes}\n", doc{}, `line 1: inner.on: "yes" is not true or false`},
		{"inner: {small: 300}\n", doc{}, `line 1: inner.small: 300 is too large`},
		{"inner: {hosts: [a, [b]]}\n", doc{}, `line 1: inner.hosts[1]: expected a single value, found a list`},
		{"Skipped: x\n", doc{}, `line 1: Skipped: unknown key (known: by_name, inner, plain, wait)`},
		{"by_name: {x: 1}\n", doc{}, `line 1: by_name["x"]: expected a mapping (key: value lines), found "1"`},
	}
	for _, tt := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tt.yaml), &n); err != nil {
			t.Fatal(err)
		}
		p := newProblems("")
		d := &decoder{problems: p, active: map[*yaml.Node]bool{}, maxVisits: visitsSlack}
		var got doc
		d.value("", 1, n.Content[0], reflect.ValueOf(&got).Elem())
		err, _ := p.result()
		switch {
		case tt.wantErr != "":
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%q: error %v, want %s", tt.yaml, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.yaml, err)
		case !reflect.DeepEqual(got, tt.want):
			t.Errorf("%q: got %+v, want %+v", tt.yaml, got, tt.want)
		}
	}
}

func TestParentPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"tunnels", ""},
		{"router.sam", "router"},
		{"tunnels[12]", "tunnels"},
		{"tunnels[1].inbound.length", "tunnels[1].inbound"},
		{`tunnels[0].options["i2cp.x"]`, "tunnels[0].options"},
		{mapKey("tunnels[0].options", `a"]["b`), "tunnels[0].options"},
		{mapKey("o", `x\`), "o"},
	}
	for _, tt := range tests {
		if got := parent(tt.in); got != tt.want {
			t.Errorf("parent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	fields := yamlFields(reflect.TypeFor[Tunnel]())
	tests := []struct{ key, want string }{
		{"destinaton", "; did you mean destination?"},
		{"Listen", "; did you mean listen?"},
		{"idle-timeout", "; did you mean idle_timeout?"},
		{"privKeyFile", " (known: " + strings.Join(slices.Sorted(maps.Keys(fields)), ", ") + ")"},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, fields); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Path: "x.y", Msg: "m"}, "a.yaml:3: x.y: m"},
		{Error{File: "a.yaml", Msg: "m"}, "a.yaml: m"},
		{Error{Line: 2, Path: "p", Msg: "m"}, "line 2: p: m"},
		{Error{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
	}
}
