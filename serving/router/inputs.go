// What the router refuses before any variant sees a request: a body that cannot carry an image for the handler
// (the Python router's inputs.py: same rules, same reasons).
//
// The rule (docs/contracts.md, "Which answers count against a variant"): a client fault the router can see is answered
// by the router itself, with a 400 and a reason, and is recorded against no variant. Everything it forwards is a
// request a healthy model serves, so every answer from a variant other than a 2xx counts as that variant's error.
//
// The checks are structural and cheap (a prefix compare for a raw image; one JSON parse and one base64 decode for a
// JSON body). What they pass, the handler (serving/visionroll_serving/handler.py) is expected to decode: a body that
// starts like a PNG but is corrupt past its signature is the variant's error, as is any 400 the handler answers to it.
// A multipart/form-data body is checked for its boundary only: its parts are the handler's to read.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// jsonImageKeys: the handler's JSON keys, in its order of preference.
var jsonImageKeys = []string{"image", "data", "b64"}

// imageSignatures: leading bytes of the image formats the router accepts in a raw body or a base64 field.
var imageSignatures = [][]byte{
	[]byte("\x89PNG\r\n\x1a\n"), // PNG
	[]byte("\xff\xd8\xff"),      // JPEG
	[]byte("GIF87a"),
	[]byte("GIF89a"),
	[]byte("BM"),      // BMP
	[]byte("II*\x00"), // TIFF, little-endian
	[]byte("MM\x00*"), // TIFF, big-endian
}

const (
	imageFormats = "PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM"
	imageUsage   = `send an image (` + imageFormats + `) as the body, or JSON {"image": "<base64 of an image>"}`
	asciiSpace   = " \t\n\r\v\f" // Python's bytes.isspace() and bytes.strip()
)

// IsImage: data starts like an image of one of the formats the router accepts (WebP: RIFF....WEBP; PBM/PGM/PPM: P1 to
// P6, then whitespace).
func IsImage(data []byte) bool {
	if len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP" {
		return true
	}
	if len(data) >= 2 && data[0] == 'P' && '1' <= data[1] && data[1] <= '6' {
		return len(data) > 2 && strings.IndexByte(asciiSpace, data[2]) >= 0
	}
	for _, signature := range imageSignatures {
		if bytes.HasPrefix(data, signature) {
			return true
		}
	}
	return false
}

// Refusal is why the router refuses body as a prediction request (one line, for the client), or "" to forward it.
func Refusal(body []byte, contentType string) string {
	if len(body) == 0 {
		return "empty body: " + imageUsage
	}
	mediaType, parameters, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(pyStrip(mediaType))
	if mediaType == "multipart/form-data" {
		if strings.Contains(strings.ToLower(parameters), "boundary=") {
			return ""
		}
		return "multipart/form-data without a boundary parameter"
	}
	// The handler reads any body that starts with "{" as JSON, whatever its Content-Type says.
	if mediaType == "application/json" || bytes.HasPrefix(bytes.TrimLeft(body, asciiSpace), []byte("{")) {
		return jsonRefusal(body)
	}
	if IsImage(body) {
		return ""
	}
	if mediaType == "" {
		mediaType = "no Content-Type"
	}
	return fmt.Sprintf("body is not an image (%s, starts %s): %s", mediaType, pyBytesRepr(body[:min(len(body), 8)]),
		imageUsage)
}

func jsonRefusal(body []byte) string {
	document, err := decodeJSON(body)
	if err != nil {
		return "body is not valid JSON: " + err.Error()
	}
	object, ok := document.(*jsonObject)
	if !ok {
		return "a JSON body must be an object: " + imageUsage
	}
	for _, key := range jsonImageKeys {
		value, _ := object.values[key].(string)
		if value == "" {
			continue
		}
		image, err := strictBase64(value)
		if err != nil {
			return fmt.Sprintf("field %s is not valid base64: %v", pyRepr(key), err)
		}
		if !IsImage(image) {
			return fmt.Sprintf("field %s does not hold an image (%s); it starts %s", pyRepr(key), imageFormats,
				pyBytesRepr(image[:min(len(image), 8)]))
		}
		return ""
	}
	return fmt.Sprintf("a JSON body needs one of %s holding a base64-encoded image", pyStrings(jsonImageKeys))
}

// strictBase64 decodes as Python's base64.b64decode(validate=True): the standard alphabet, padded, and nothing else
// (encoding/base64 would skip line breaks).
func strictBase64(text string) ([]byte, error) {
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		return nil, base64.CorruptInputError(i)
	}
	return base64.StdEncoding.DecodeString(text)
}

// pyBytesRepr is Python's repr of a bytes object: b'...' (b"..." when it holds ' and no "), with \t \n \r, \\, the
// quote escaped, and \xhh for the bytes outside ' '-'~'.
func pyBytesRepr(data []byte) string {
	quote := byte('\'')
	if bytes.IndexByte(data, '\'') >= 0 && bytes.IndexByte(data, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte('b')
	b.WriteByte(quote)
	for _, c := range data {
		switch {
		case c == quote || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
