package main

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

// The first bytes of an 8x8 grey image in every format the router names, as Pillow writes it (PPM stands for
// PBM/PGM/PPM); test_router_inputs.py checks that the handler decodes them all.
var pillowImages = map[string]string{
	"BMP":  "BMv\x04\x00\x00\x00\x00\x00\x006\x04\x00\x00(\x00",
	"GIF":  "GIF87a\x08\x00\x08\x00\x81\x00\x00ZZZ",
	"JPEG": "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01",
	"PNG":  "\x89PNG\x0d\x0a\x1a\x0a\x00\x00\x00\x0dIHDR",
	"PPM":  "P5\x0a8 8\x0a255\x0aZZZZZ",
	"TIFF": "II*\x00\x08\x00\x00\x00\x09\x00\x00\x01\x04\x00\x01\x00",
	"WEBP": "RIFF$\x00\x00\x00WEBPVP8 ",
}

func TestEveryFormatTheRouterNamesIsForwarded(t *testing.T) {
	grey := image.NewGray(image.Rect(0, 0, 8, 8))
	encoded := map[string]*bytes.Buffer{"Go PNG": {}, "Go JPEG": {}, "Go GIF": {}}
	if png.Encode(encoded["Go PNG"], grey) != nil || jpeg.Encode(encoded["Go JPEG"], grey, nil) != nil ||
		gif.Encode(encoded["Go GIF"], grey, nil) != nil {
		t.Fatal("cannot encode")
	}
	images := map[string][]byte{}
	for format, start := range pillowImages {
		images[format] = []byte(start)
	}
	for format, buffer := range encoded {
		images[format] = buffer.Bytes()
	}
	for format, body := range images {
		if !IsImage(body) {
			t.Errorf("%s: not an image", format)
		}
		if reason := Refusal(body, "application/octet-stream"); reason != "" {
			t.Errorf("%s: %s", format, reason)
		}
		asJSON := `{"image": "` + base64.StdEncoding.EncodeToString(body) + `"}`
		if reason := Refusal([]byte(asJSON), "application/json"); reason != "" {
			t.Errorf("%s as JSON: %s", format, reason)
		}
	}
}

// The reasons are the Python router's (inputs.py) for the same body and Content-Type.
func TestRefusalsNameTheFault(t *testing.T) {
	for _, tc := range []struct{ body, contentType, want string }{
		{"", "image/png", "empty body: send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"not an image", "text/plain", "body is not an image (text/plain, starts b'not an i'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"\x89PNG but not really", "image/png", "body is not an image (image/png, starts b'\\x89PNG but'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"P7 not a pnm", "application/octet-stream", "body is not an image (application/octet-stream, starts b'P7 not a'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"BM", "application/octet-stream", ""},
		{"[1, 2]", "application/json", "a JSON body must be an object: send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"{\"picture\": \"aGVsbG8=\"}", "application/json", "a JSON body needs one of ['image', 'data', 'b64'] holding a base64-encoded image"},
		{"{\"b64\": \"aGVsbG8=\"}", "application/json", "field 'b64' does not hold an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM); it starts b'hello'"},
		{"--x\x0d\x0a", "multipart/form-data", "multipart/form-data without a boundary parameter"},
		{"--x\x0d\x0a", "multipart/form-data; boundary=x", ""},
		{"  {\"x\": 1}", "image/png", "a JSON body needs one of ['image', 'data', 'b64'] holding a base64-encoded image"},
		{"hello there", "", "body is not an image (no Content-Type, starts b'hello th'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"it's\x00\xff\x09\x0a\\", "Text/Plain ; x", "body is not an image (text/plain, starts b\"it's\\x00\\xff\\t\\n\"): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"'\"", "x", "body is not an image (x, starts b'\\'\"'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"\"", "x", "body is not an image (x, starts b'\"'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"'", "x", "body is not an image (x, starts b\"'\"): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"{\"image\": \"aGVsbG9=\"}", "application/json", "field 'image' does not hold an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM); it starts b'hello'"},
		{"{\"image\": \"Qk0=\"}", "application/json", ""},
		{"{\"image\": \"\", \"data\": 5, \"b64\": \"Qk0=\"}", "application/json", ""},
		{"{\"image\": \"aG==\"}", "application/json", "field 'image' does not hold an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM); it starts b'h'"},
		{"{\"image\": \"aGk=\"}", "application/json", "field 'image' does not hold an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM); it starts b'hi'"},
		{"{\"data\": \"/9j/\"}", "text/plain", ""},
		{"{\"data\": \"iVBORw0KGgo=\"}", "application/json", ""},
		{"{\"data\": \"iVBORw0KGgoAAAANSUhEUgAA\"}", "application/json", ""},
		{"P6\x0b", "", ""},
		{"P1 ", "", ""},
		{"P6", "", "body is not an image (no Content-Type, starts b'P6'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"P0 ", "", "body is not an image (no Content-Type, starts b'P0 '): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"RIFF1234WEBP", "", ""},
		{"RIFF1234WEB", "", "body is not an image (no Content-Type, starts b'RIFF1234'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"II*\x00", "", ""},
		{"MM\x00*", "", ""},
		{"GIF87a", "", ""},
		{"GIF89", "", "body is not an image (no Content-Type, starts b'GIF89'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"\xff\xd8\xff", "", ""},
		{"\xef\xbb\xbf{}", "application/json", "a JSON body needs one of ['image', 'data', 'b64'] holding a base64-encoded image"},
		{"{}", "MULTIPART/FORM-DATA; BOUNDARY=x", ""},
		{"x", " ; ", "body is not an image (no Content-Type, starts b'x'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"x", " Image/PNG\u001c", "body is not an image (image/png, starts b'x'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
		{"{\"b64\": \"Qk0=\", \"image\": \"Qk0=\"}", "image/png", ""},
		{"[]", "image/png; a=b", "body is not an image (image/png, starts b'[]'): send an image (PNG, JPEG, GIF, BMP, TIFF, WebP or PBM/PGM/PPM) as the body, or JSON {\"image\": \"<base64 of an image>\"}"},
	} {
		if got := Refusal([]byte(tc.body), tc.contentType); got != tc.want {
			t.Errorf("%q %q:\ngot  %q\nwant %q", tc.body, tc.contentType, got, tc.want)
		}
	}
}

// Where the Python reason ends with Python's own exception text, the Go one has Go's after the same prefix; the
// bodies refused are the same.
func TestJSONAndBase64FaultsAreRefusedAsInPython(t *testing.T) {
	for _, tc := range []struct{ body, python, want string }{
		{`{"image": `, "body is not valid JSON: Expecting value: line 1 column 11 (char 10)", "body is not valid JSON: unexpected EOF"},
		{`{"data": "Qk0="} {}`, "body is not valid JSON: Extra data: line 1 column 18 (char 17)", "body is not valid JSON: extra data after the value"},
		{`{"data": "Qk0="`, "body is not valid JSON: Expecting ',' delimiter: line 1 column 16 (char 15)", "body is not valid JSON: unexpected EOF"},
		{"{\"image\": \"\xff\"}", "body is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 11: invalid start byte", "body is not valid JSON: invalid UTF-8 at byte 11"},
		{"\v{}", "body is not valid JSON: Expecting value: line 1 column 1 (char 0)", "body is not valid JSON: invalid character '\\v' looking for beginning of value"},
		{`{"image": "\u0000"}`, "field 'image' is not valid base64: Only base64 data is allowed", "field 'image' is not valid base64: illegal base64 data at input byte 0"},
		{`{"image": "***"}`, "field 'image' is not valid base64: Only base64 data is allowed", "field 'image' is not valid base64: illegal base64 data at input byte 0"},
		{`{"image": "aGVsbG8=="}`, "field 'image' is not valid base64: Excess data after padding", "field 'image' is not valid base64: illegal base64 data at input byte 8"},
		{`{"image": "aGVsbG8"}`, "field 'image' is not valid base64: Incorrect padding", "field 'image' is not valid base64: illegal base64 data at input byte 4"},
		{`{"image": "aGVs\nbG8="}`, "field 'image' is not valid base64: Only base64 data is allowed", "field 'image' is not valid base64: illegal base64 data at input byte 4"},
		{`{"image": "=aGVsbG8"}`, "field 'image' is not valid base64: Leading padding not allowed", "field 'image' is not valid base64: illegal base64 data at input byte 0"},
		{`{"image": "aGVs=bG8="}`, "field 'image' is not valid base64: Discontinuous padding not allowed", "field 'image' is not valid base64: illegal base64 data at input byte 4"},
		{`{"image": "\u00e9"}`, "field 'image' is not valid base64: string argument should contain only ASCII characters", "field 'image' is not valid base64: illegal base64 data at input byte 0"},
		{`{"image": "a"}`, "field 'image' is not valid base64: Invalid base64-encoded string: number of data characters (1) cannot be 1 more than a multiple of 4", "field 'image' is not valid base64: illegal base64 data at input byte 0"},
		{`{"image": "aGVsbG8=aGVsbG8="}`, "field 'image' is not valid base64: Excess data after padding", "field 'image' is not valid base64: illegal base64 data at input byte 8"},
		{`{"image": "aGk=="}`, "field 'image' is not valid base64: Excess data after padding", "field 'image' is not valid base64: illegal base64 data at input byte 4"},
		{`{"image": "Qk0=\n"}`, "field 'image' is not valid base64: Excess data after padding", "field 'image' is not valid base64: illegal base64 data at input byte 4"},
		{`{"image": "Qk0=\r"}`, "field 'image' is not valid base64: Excess data after padding", "field 'image' is not valid base64: illegal base64 data at input byte 4"},
		{`{"image": "Qk 0="}`, "field 'image' is not valid base64: Only base64 data is allowed", "field 'image' is not valid base64: illegal base64 data at input byte 2"},
		{`{"image": 1, "image": "Qk0"}`, "field 'image' is not valid base64: Incorrect padding", "field 'image' is not valid base64: illegal base64 data at input byte 0"},
	} {
		if got := Refusal([]byte(tc.body), "application/json"); got != tc.want {
			t.Errorf("%q:\ngot  %q\nwant %q", tc.body, got, tc.want)
		}
		if prefix := tc.python[:strings.Index(tc.python, ": ")+2]; !strings.HasPrefix(tc.want, prefix) {
			t.Errorf("%q: %q does not start like %q", tc.body, tc.want, tc.python)
		}
	}
	// Python's json reads NaN and Infinity (and the router forwards what has no image key); to Go they are not JSON.
	if got, want := Refusal([]byte(`{"image": NaN}`), "application/json"),
		"body is not valid JSON: invalid character 'N' looking for beginning of value"; got != want {
		t.Errorf("NaN: got %q, want %q", got, want)
	}
}

func TestBytesAreShownAsPythonShowsThem(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct{ data, want string }{ // repr() in CPython
		{string(all), `b'\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_` + "`" + `abcdefghijklmnopqrstuvwxyz{|}~\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff'`},
		{"", "b''"}, {"'", `b"'"`}, {`"`, `b'"'`}, {`'"`, `b'\'"'`}, {`it's \`, `b"it's \\"`},
	} {
		if got := pyBytesRepr([]byte(tc.data)); got != tc.want {
			t.Errorf("%q:\ngot  %s\nwant %s", tc.data, got, tc.want)
		}
	}
}
