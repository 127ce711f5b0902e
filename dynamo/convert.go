package dynamo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrNotObject means a JSON document given as an item is not a JSON object.
var ErrNotObject = errors.New("dynamo: item JSON must be an object")

// ItemToJSON renders a DynamoDB item as a JSON object. Numbers are copied as
// their decimal text (never through float64), so a 20-digit N attribute stays
// 20 digits. Map keys come out sorted, so the same item always yields the
// same bytes (the HTTP front derives its ETag from them). Binary attributes
// become base64 strings, sets become arrays.
func ItemToJSON(item map[string]types.AttributeValue) ([]byte, error) {
	var doc map[string]any
	err := attributevalue.UnmarshalMapWithOptions(item, &doc, func(o *attributevalue.DecoderOptions) {
		o.UseNumber = true
	})
	if err != nil {
		return nil, fmt.Errorf("dynamo: decode item: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(toJSONNumbers(doc)); err != nil {
		return nil, fmt.Errorf("dynamo: encode item as JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// JSONToItem parses a JSON object into a DynamoDB item. Numbers become N
// attributes with their exact decimal text.
func JSONToItem(data []byte) (map[string]types.AttributeValue, error) {
	doc, err := DecodeObject(data)
	if err != nil {
		return nil, err
	}
	item, err := attributevalue.MarshalMapWithOptions(toAVNumbers(doc))
	if err != nil {
		return nil, fmt.Errorf("dynamo: encode item: %w", err)
	}
	return item, nil
}

// DecodeObject parses data as one JSON object, keeping numbers as
// json.Number. Trailing data after the object is an error.
func DecodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("dynamo: malformed JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("dynamo: malformed JSON: data after the object")
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNotObject
	}
	return doc, nil
}

// toJSONNumbers replaces attributevalue.Number with json.Number throughout v.
func toJSONNumbers(v any) any {
	switch t := v.(type) {
	case attributevalue.Number:
		return json.Number(t)
	case []attributevalue.Number:
		out := make([]json.Number, len(t))
		for i, n := range t {
			out[i] = json.Number(n)
		}
		return out
	case map[string]any:
		for k, e := range t {
			t[k] = toJSONNumbers(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = toJSONNumbers(e)
		}
		return t
	default:
		return v
	}
}

// toAVNumbers replaces json.Number with attributevalue.Number throughout v.
func toAVNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		return attributevalue.Number(t)
	case map[string]any:
		for k, e := range t {
			t[k] = toAVNumbers(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = toAVNumbers(e)
		}
		return t
	default:
		return v
	}
}
