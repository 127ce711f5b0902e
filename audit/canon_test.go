package audit

import "testing"

// TestEqualItems: the comparison ignores what two JSON spellings of one
// item may differ in, and nothing else.
func TestEqualItems(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b string
		nilA bool
		want bool
	}{
		{"same bytes", `{"a":1}`, `{"a":1}`, false, true},
		{"key order", `{"a":1,"b":"x"}`, `{"b":"x","a":1}`, false, true},
		{"number spelling", `{"n":1.50,"m":1e2}`, `{"n":1.5,"m":100}`, false, true},
		{"nested", `{"l":[{"y":2,"x":1}],"m":{"q":null}}`, `{"m":{"q":null},"l":[{"x":1,"y":2}]}`, false, true},
		{"beyond float precision", `{"n":12345678901234567890123456789012345678}`, `{"n":12345678901234567890123456789012345679}`, false, false},
		{"other value", `{"a":"x"}`, `{"a":"y"}`, false, false},
		{"number and string", `{"a":1}`, `{"a":"1"}`, false, false},
		{"extra attribute", `{"a":1}`, `{"a":1,"b":2}`, false, false},
		{"list order", `{"l":[1,2]}`, `{"l":[2,1]}`, false, false},
		{"absent and empty", ``, `{}`, true, false},
		{"both absent", ``, ``, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := []byte(tc.a), []byte(tc.b)
			if tc.nilA {
				a = nil
				if tc.b == "" {
					b = nil
				}
			}
			got, err := equalItems(a, b)
			if err != nil || got != tc.want {
				t.Errorf("equalItems(%s, %s) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
			}
		})
	}
}
