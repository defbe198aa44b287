package schemas

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
)

// jsonSchema is the part of a JSON Schema (draft 2020-12) that the event
// schemas use.
type jsonSchema struct {
	Schema     string                `json:"$schema"`
	Type       string                `json:"type"`
	Required   []string              `json:"required"`
	AnyOf      []jsonSchema          `json:"anyOf"`
	Properties map[string]propSchema `json:"properties"`
	Additional *bool                 `json:"additionalProperties"`
}

type propSchema struct {
	Type             any          `json:"type"` // a name or a list of names
	OneOf            []propSchema `json:"oneOf"`
	Enum             []any        `json:"enum"`
	Format           string       `json:"format"`
	MinLength        *int         `json:"minLength"`
	MaxLength        *int         `json:"maxLength"`
	Minimum          *float64     `json:"minimum"`
	Maximum          *float64     `json:"maximum"`
	ExclusiveMaximum *float64     `json:"exclusiveMaximum"`
}

func (p propSchema) types() []string {
	var ts []string
	switch t := p.Type.(type) {
	case string:
		ts = append(ts, t)
	case []any:
		for _, v := range t {
			ts = append(ts, v.(string))
		}
	}
	for _, o := range p.OneOf {
		ts = append(ts, o.types()...)
	}
	return ts
}

// TestJSONSchemas checks that schemas/*.schema.json say exactly what the
// decoder does, so that they cannot drift apart silently: the property
// names are the fields the decoder reads, the required ones are those whose absence the
// decoder reports, and each property's type, enum, length and range is
// probed against the decoder at its edges.
func TestJSONSchemas(t *testing.T) {
	d := NewDecoder(nil)
	identity := map[string]any{"event_id": "e1", "user_id": "u1", "anonymous_id": "a1", "timestamp": 1710513000000}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range identity {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		file   string
		names  []string
		full   map[string]any
		decode func([]byte) error
	}{
		{"touchpoint.schema.json", touchpointSchema.names,
			with(map[string]any{"interaction": "impression", "channel": "email", "source": "s", "medium": "m", "campaign": "c", "cost": 1.5}),
			func(b []byte) error { _, err := d.Touchpoint(b); return err }},
		{"conversion.schema.json", conversionSchema.names,
			with(map[string]any{"conversion_type": "purchase", "revenue": 10.5, "currency": "EUR"}),
			func(b []byte) error { _, err := d.Conversion(b); return err }},
		{"identity.schema.json", identitySchema.names, with(nil),
			func(b []byte) error { _, err := d.Identity(b); return err }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var s jsonSchema
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.Type != "object" {
				t.Errorf("$schema %q, type %q: want draft 2020-12 and object", s.Schema, s.Type)
			}
			if s.Additional == nil || !*s.Additional {
				t.Error("additionalProperties must be true: the decoder ignores unknown fields")
			}
			if len(tc.full) != len(s.Properties) {
				t.Fatalf("the test's full document has %d properties, the schema %d", len(tc.full), len(s.Properties))
			}
			decode := func(doc map[string]any) error {
				t.Helper()
				b, err := json.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				return tc.decode(b)
			}
			// rejects reports whether the decoder refuses doc because of field.
			rejects := func(doc map[string]any, field string) bool {
				t.Helper()
				err := decode(doc)
				var fe *FieldError
				if err != nil && (!errors.As(err, &fe) || fe.Field != field) {
					t.Errorf("%v: rejected for another field than %s", err, field)
				}
				return err != nil
			}
			if err := decode(tc.full); err != nil {
				t.Fatalf("the full document is rejected: %v", err)
			}
			if err := decode(with2(tc.full, "x-unknown", map[string]any{"a": []any{1, nil}})); err != nil {
				t.Errorf("unknown property rejected: %v", err)
			}

			// Property names: the fields the decoder reads.
			wire := slices.Clone(tc.names)
			var props []string
			for p := range s.Properties {
				props = append(props, p)
			}
			sort.Strings(wire)
			sort.Strings(props)
			if !slices.Equal(props, wire) {
				t.Errorf("properties %q, the decoder reads %q", props, wire)
			}

			// required: the properties the decoder cannot do without.
			var required []string
			for _, p := range props {
				if rejects(without(tc.full, p), p) {
					required = append(required, p)
				}
			}
			got := slices.Clone(s.Required)
			sort.Strings(got)
			if !slices.Equal(got, required) {
				t.Errorf("required %q, the decoder requires %q", got, required)
			}

			// anyOf: one of the alternatives is needed, non-empty.
			var alternatives []string
			for _, a := range s.AnyOf {
				if len(a.Required) != 1 {
					t.Fatalf("anyOf branch requires %q, want one property", a.Required)
				}
				alternatives = append(alternatives, a.Required[0])
			}
			if len(alternatives) > 0 {
				none := without(tc.full, alternatives...)
				if !rejects(none, "user_id") {
					t.Errorf("the decoder accepts none of %q", alternatives)
				}
				for _, a := range alternatives {
					if err := decode(with2(none, a, "k")); err != nil {
						t.Errorf("the decoder refuses %s alone: %v", a, err)
					}
					if !rejects(with2(none, a, ""), "user_id") {
						t.Errorf("the decoder accepts %s empty and alone", a)
					}
				}
			}

			for _, p := range props {
				checkProperty(t, p, s.Properties[p], tc.full, decode, rejects)
			}
		})
	}
}

// checkProperty probes one property: each JSON type the schema allows or
// not, the enum, the length and the range limits.
func checkProperty(t *testing.T, p string, ps propSchema, full map[string]any,
	decode func(map[string]any) error, rejects func(map[string]any, string) bool) {
	t.Helper()
	types := ps.types()
	if len(types) == 0 && ps.Enum == nil {
		t.Errorf("%s: neither type nor enum", p)
	}
	expect := func(doc map[string]any, ok bool, what string) {
		t.Helper()
		if ok {
			if err := decode(doc); err != nil {
				t.Errorf("%s: the schema allows %s, the decoder says %v", p, what, err)
			}
		} else if !rejects(doc, p) {
			t.Errorf("%s: the schema refuses %s, the decoder accepts it", p, what)
		}
	}
	if ps.Enum != nil {
		for _, v := range ps.Enum {
			expect(with2(full, p, v), true, "enum value "+jsonText(v))
		}
		for _, v := range []any{"bogus", strings.ToUpper(ps.Enum[0].(string)), "", nil, 5, true} {
			if !slices.Contains(ps.Enum, v) {
				expect(with2(full, p, v), false, jsonText(v))
			}
		}
		return
	}
	// One value of each JSON type, valid for the property if that type is.
	samples := map[string]any{"string": "x", "number": 1.5, "integer": 7, "null": nil, "boolean": true, "object": map[string]any{}, "array": []any{}}
	if slices.Contains(types, "integer") {
		samples["integer"], samples["number"] = 1710513000000, 1710513000000.5
	}
	if ps.OneOf != nil || ps.Format == "date-time" {
		samples["string"] = "2024-03-15T14:30:00.5+01:00"
	}
	for _, ty := range []string{"string", "number", "integer", "null", "boolean", "object", "array"} {
		allowed := slices.Contains(types, ty) || (ty == "integer" && slices.Contains(types, "number"))
		expect(with2(full, p, samples[ty]), allowed, ty+" "+jsonText(samples[ty]))
	}
	for _, o := range ps.OneOf {
		if o.Format == "date-time" {
			expect(with2(full, p, "2024-03-15"), false, "a date without a time")
			expect(with2(full, p, "yesterday"), false, "a string that is no date-time")
		}
		checkRange(t, p, o, full, expect)
	}
	if ps.MinLength != nil {
		expect(with2(full, p, strings.Repeat("x", *ps.MinLength)), true, "a string of minLength")
		if *ps.MinLength > 0 {
			expect(with2(full, p, strings.Repeat("x", *ps.MinLength-1)), false, "a string under minLength")
		}
	}
	if ps.MaxLength != nil {
		expect(with2(full, p, strings.Repeat("x", *ps.MaxLength)), true, "a string of maxLength")
		expect(with2(full, p, strings.Repeat("x", *ps.MaxLength+1)), false, "a string over maxLength")
	} else if slices.Contains(types, "string") && ps.OneOf == nil {
		t.Errorf("%s: a string without maxLength, the decoder bounds every string", p)
	}
	checkRange(t, p, ps, full, expect)
}

func checkRange(t *testing.T, p string, ps propSchema, full map[string]any, expect func(map[string]any, bool, string)) {
	t.Helper()
	step := func(v float64) float64 {
		if slices.Contains(ps.types(), "integer") {
			return 1
		}
		return math.Max(1e-9, math.Abs(v)*1e-9)
	}
	if ps.Minimum != nil {
		m := *ps.Minimum
		expect(with2(full, p, m), true, "the minimum")
		expect(with2(full, p, m-step(m)), false, "below the minimum")
	}
	if ps.Maximum != nil {
		m := *ps.Maximum
		expect(with2(full, p, m), true, "the maximum")
		expect(with2(full, p, m+step(m)), false, "above the maximum")
	}
	if ps.ExclusiveMaximum != nil {
		m := *ps.ExclusiveMaximum
		expect(with2(full, p, m-step(m)), true, "just below the exclusive maximum")
		expect(with2(full, p, m), false, "the exclusive maximum")
	}
}

func with2(doc map[string]any, k string, v any) map[string]any {
	m := map[string]any{}
	for key, val := range doc {
		m[key] = val
	}
	m[k] = v
	return m
}

func without(doc map[string]any, keys ...string) map[string]any {
	m := map[string]any{}
	for k, v := range doc {
		if !slices.Contains(keys, k) {
			m[k] = v
		}
	}
	return m
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
