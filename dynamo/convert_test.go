package dynamo

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestItemToJSON(t *testing.T) {
	cases := []struct {
		name string
		item map[string]types.AttributeValue
		want string
	}{
		{"string and sorted keys", map[string]types.AttributeValue{
			"b": &types.AttributeValueMemberS{Value: "x"},
			"a": &types.AttributeValueMemberS{Value: "Zoë <東京>"},
		}, `{"a":"Zoë <東京>","b":"x"}`},
		{"20-digit number stays exact", map[string]types.AttributeValue{
			"n": &types.AttributeValueMemberN{Value: "12345678901234567890"},
		}, `{"n":12345678901234567890}`},
		{"decimal beyond float64", map[string]types.AttributeValue{
			"n": &types.AttributeValueMemberN{Value: "0.1000000000000000000000000000000000001"},
		}, `{"n":0.1000000000000000000000000000000000001}`},
		{"nested map and list", map[string]types.AttributeValue{
			"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
					&types.AttributeValueMemberN{Value: "99999999999999999999"},
					&types.AttributeValueMemberBOOL{Value: true},
					&types.AttributeValueMemberNULL{Value: true},
				}},
			}},
		}, `{"m":{"l":[99999999999999999999,true,null]}}`},
		{"sets", map[string]types.AttributeValue{
			"ns": &types.AttributeValueMemberNS{Value: []string{"1", "123456789012345678901"}},
			"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		}, `{"ns":[1,123456789012345678901],"ss":["a","b"]}`},
		{"binary as base64", map[string]types.AttributeValue{
			"b": &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
		}, `{"b":"AAEC"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ItemToJSON(tc.item)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestJSONToItemRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		doc  string
	}{
		{"flat", `{"name":"Ann","user_id":"1"}`},
		{"exact numbers", `{"big":123456789012345678901234567890,"neg":-0.000000000000000000001,"user_id":7}`},
		{"nested", `{"a":{"b":[1,"two",false,null,{"c":3}]},"user_id":"x"}`},
		{"unicode", `{"name":"Zoë 東京 🎉","user_id":"u"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			item, err := JSONToItem([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ItemToJSON(item)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.doc {
				t.Errorf("round trip:\ngot  %s\nwant %s", got, tc.doc)
			}
		})
	}
}

func TestJSONToItemRejects(t *testing.T) {
	cases := []struct {
		name, doc string
		want      error
	}{
		{"array", `[1,2]`, ErrNotObject},
		{"string", `"x"`, ErrNotObject},
		{"truncated", `{"a":`, nil},
		{"trailing data", `{"a":1} {"b":2}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := JSONToItem([]byte(tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
