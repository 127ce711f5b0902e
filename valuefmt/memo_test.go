package valuefmt

import (
	"bytes"
	"testing"
)

func TestMemo(t *testing.T) {
	m := NewMemo(1 << 20)
	v1 := Codec{Format: Msgpack}.Encode([]byte(`{"id":1,"v":"one"}`))
	v2 := Codec{Format: Msgpack}.Encode([]byte(`{"id":1,"v":"two"}`))
	first, err := m.Decode("k", v1)
	if err != nil || string(first) != `{"id":1,"v":"one"}` {
		t.Fatalf("Decode = %s, %v", first, err)
	}
	again, _ := m.Decode("k", v1)
	if &again[0] != &first[0] {
		t.Error("the same value under the same key was decoded again")
	}
	copyOf := bytes.Clone(v1)
	if same, _ := m.Decode("k", copyOf); &same[0] != &first[0] {
		t.Error("equal bytes elsewhere were decoded again")
	}
	changed, _ := m.Decode("k", v2)
	if string(changed) != `{"id":1,"v":"two"}` {
		t.Errorf("a changed value answered %s", changed)
	}
	plain := []byte(`{"id":2}`)
	if got, _ := m.Decode("p", plain); &got[0] != &plain[0] || m.Len() != 1 {
		t.Errorf("plain JSON was copied or memoised (len %d)", m.Len())
	}
}

func TestMemoBounded(t *testing.T) {
	m := NewMemo(4096)
	for i := range 1000 {
		doc := []byte(`{"id":` + string(rune('0'+i%10)) + `,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
		if _, err := m.Decode(string(rune(i)), Codec{Format: Msgpack}.Encode(doc)); err != nil {
			t.Fatal(err)
		}
	}
	if m.size > m.max || m.Len() == 0 || m.Len() > 4096/50 {
		t.Fatalf("memo holds %d entries, %d bytes; max %d", m.Len(), m.size, m.max)
	}
}
