// router.json (docs/contracts.md) parsed into a Config, with the acceptance of its pydantic schema, which the operator
// writes with (visionroll_serving/router/config.py, RouterJson, strict types); anything invalid is a ConfigError
// naming the field as router.json spells it, in the words the Python router used (pydantic's).
//
// Also the reading of JSON that every parser of this package shares: documents decoded as Python's json module
// decodes them (numbers kept as written, objects in document order), and values shown as Python's repr shows them,
// so that clients and logs read the text the Python router gave.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ConfigError: the routing config (or a --resolve entry) is invalid; the message names the field.
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

func configError(format string, args ...any) *ConfigError {
	return &ConfigError{fmt.Sprintf(format, args...)}
}

// CheckConfigText is "" when text is a valid router.json, else why not (the ConfigError's message).
func CheckConfigText(text []byte) string {
	if _, err := ParseConfig(text, nil); err != nil {
		return err.Error()
	}
	return ""
}

// ParseConfig parses and validates router.json; resolve rewrites upstream "HOST:PORT" to "IP:PORT" (curl-like).
// The first fault found is the one reported, in pydantic's order: the fields in the schema's order (a variant's
// fields before the next variant's), then a section's unknown fields, then the rules over several fields.
func ParseConfig(text []byte, resolve map[string]string) (*Config, error) {
	if bytes.HasPrefix(text, utf8BOM) { // Python reads router.json as text, where a BOM is not JSON
		return nil, configError("router.json is not valid JSON: unexpected UTF-8 BOM")
	}
	document, err := decodeJSON(text)
	if err != nil {
		return nil, configError("router.json is not valid JSON: %v", err)
	}
	top, ok := document.(*jsonObject)
	if !ok {
		return nil, configError("router.json must be a JSON object")
	}
	root := section{top, ""}
	c := &Config{}
	if c.Namespace, err = root.text("namespace"); err != nil {
		return nil, err
	}
	if c.VisionModel, err = root.text("visionmodel"); err != nil {
		return nil, err
	}
	if c.Model, err = root.text("model"); err != nil {
		return nil, err
	}
	if c.Variants, err = root.variants("variants"); err != nil {
		return nil, err
	}
	if c.Shadow, err = root.shadow("shadow"); err != nil {
		return nil, err
	}
	if c.Paired, err = root.paired("paired"); err != nil {
		return nil, err
	}
	if c.StickyHeader, err = root.stickyHeader("stickyHeader", "sticky_header"); err != nil {
		return nil, err
	}
	if err := consistent(c); err != nil {
		return nil, err
	}
	for i := range c.Variants {
		c.Variants[i].Upstream = ResolveUpstream(c.Variants[i].Upstream, resolve)
	}
	return c, nil
}

// consistent: the rules over several fields (the Python `RouterJson._consistent`, same messages).
func consistent(c *Config) error {
	names := make([]string, len(c.Variants))
	total := 0
	for i, v := range c.Variants {
		names[i] = v.Name
		total += v.Weight
	}
	if len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
		return configError("variants: names must be unique, got %s", pyStrings(names))
	}
	if total != 100 {
		return configError("variants[*].weight: must sum to 100, got %d", total)
	}
	if c.Shadow != nil && !slices.Contains(names, c.Shadow.Variant) {
		return configError("shadow.variant: must name one of the variants %s, got %s", pyStrings(names),
			pyRepr(c.Shadow.Variant))
	}
	p := c.Paired
	if p != nil && (p.CandidatePercent != 0 || p.StablePercent != 0) &&
		!(slices.Contains(names, Stable) && slices.Contains(names, Candidate)) {
		return configError("paired: copies need both variants %s, got %s", pyStrings([]string{Stable, Candidate}),
			pyStrings(names))
	}
	return nil
}

// section is one JSON object of router.json and where it is (`""`, `variants[0]`, `shadow`); its methods read one
// field each, with pydantic's acceptance and messages.
type section struct {
	object *jsonObject
	path   string
}

func (s section) where(key string) string {
	if s.path == "" {
		return key
	}
	return s.path + "." + key
}

// wrong is the first error's message: `<field>: <what is wrong>, got <value>`.
func (s section) wrong(key, what string, got any) error {
	return configError("%s: %s, got %s", s.where(key), what, pyJSONRepr(got))
}

func (s section) required(key string) (any, error) {
	value, ok := s.object.get(key)
	if !ok {
		return nil, configError("%s: Field required", s.where(key))
	}
	return value, nil
}

// text: a non-empty string once trimmed (pydantic trims Unicode White_Space, as strings.TrimSpace does).
func (s section) text(key string) (string, error) {
	value, err := s.required(key)
	if err != nil {
		return "", err
	}
	return s.trimmed(key, value)
}

func (s section) trimmed(key string, value any) (string, error) {
	text, ok := value.(string)
	if !ok {
		return "", s.wrong(key, "Input should be a valid string", value)
	}
	if trimmed := strings.TrimSpace(text); trimmed != "" {
		return trimmed, nil
	}
	return "", s.wrong(key, "String should have at least 1 character", value)
}

func (s section) role(key string) (string, error) {
	value, err := s.required(key)
	if err != nil {
		return "", err
	}
	if value != Stable && value != Candidate {
		return "", s.wrong(key, "Input should be 'stable' or 'candidate'", value)
	}
	return value.(string), nil
}

// weight: a JSON integer (not 50.0, "50" or true) in [0, 100].
func (s section) weight(key string) (int, error) {
	value, err := s.required(key)
	if err != nil {
		return 0, err
	}
	number, ok := value.(json.Number)
	if !ok || !isInteger(number) {
		return 0, s.wrong(key, "Input should be a valid integer", value)
	}
	weight, _ := strconv.Atoi(string(number)) // beyond int: the largest int of its sign
	switch {
	case weight < 0:
		return 0, s.wrong(key, "Input should be greater than or equal to 0", value)
	case weight > 100:
		return 0, s.wrong(key, "Input should be less than or equal to 100", value)
	}
	return weight, nil
}

// percent: a JSON number (integer or not; not a string or a bool) in [0, 100].
func (s section) percent(key string, value any) (float64, error) {
	number, ok := value.(json.Number)
	if !ok {
		return 0, s.wrong(key, "Input should be a valid number", value)
	}
	percent, ok := jsonFloat(number)
	if !ok { // an integer beyond float64
		return 0, s.wrong(key, "Input should be a valid number", value)
	}
	switch {
	case percent < 0:
		return 0, s.wrong(key, "Input should be greater than or equal to 0", value)
	case percent > 100:
		return 0, s.wrong(key, "Input should be less than or equal to 100", value)
	}
	return percent, nil
}

// optional reads a section that may be absent or null (nil).
func (s section) optional(key string) (*section, error) {
	value, ok := s.object.get(key)
	if !ok || value == nil {
		return nil, nil
	}
	return s.member(s.where(key), value)
}

func (s section) member(where string, value any) (*section, error) {
	object, ok := value.(*jsonObject)
	if !ok {
		return nil, configError("%s: must be an object or null, got %s", where, pyJSONRepr(value))
	}
	return &section{object, where}, nil
}

func (s section) variants(key string) ([]Variant, error) {
	value, err := s.required(key)
	if err != nil {
		return nil, err
	}
	list, ok := value.([]any)
	if !ok {
		return nil, s.wrong(key, "Input should be a valid list", value)
	}
	if len(list) == 0 {
		return nil, s.wrong(key, "List should have at least 1 item after validation, not 0", value)
	}
	variants := make([]Variant, len(list))
	for i, item := range list {
		v, err := s.member(fmt.Sprintf("%s[%d]", s.where(key), i), item)
		if err != nil {
			return nil, err
		}
		if variants[i], err = v.variant(); err != nil {
			return nil, err
		}
	}
	return variants, nil
}

// variant reads one entry of `variants`; other fields are ignored.
func (s section) variant() (v Variant, err error) {
	if v.Name, err = s.role("name"); err != nil {
		return v, err
	}
	if v.Revision, err = s.text("revision"); err != nil {
		return v, err
	}
	if v.Version, err = s.text("version"); err != nil {
		return v, err
	}
	if v.Upstream, err = s.text("upstream"); err != nil {
		return v, err
	}
	upstream, problem := checkUpstream(v.Upstream)
	if problem != "" {
		value, _ := s.object.get("upstream")
		return v, s.wrong("upstream", problem, value)
	}
	v.Upstream = upstream
	if v.Weight, err = s.weight("weight"); err != nil {
		return v, err
	}
	return v, nil
}

// shadow reads `shadow`; other fields in it are ignored.
func (s section) shadow(key string) (*Shadow, error) {
	shadow, err := s.optional(key)
	if shadow == nil || err != nil {
		return nil, err
	}
	variant, err := shadow.role("variant")
	if err != nil {
		return nil, err
	}
	value, err := shadow.required("percent")
	if err != nil {
		return nil, err
	}
	percent, err := shadow.percent("percent", value)
	if err != nil {
		return nil, err
	}
	return &Shadow{Variant: variant, Percent: percent}, nil
}

// paired reads `paired`: each share absent = 0, and no other field. Like pydantic (populate_by_name), a share may be
// spelled by its Python name (`candidate_percent`), unless its alias is there too.
func (s section) paired(key string) (*Paired, error) {
	paired, err := s.optional(key)
	if paired == nil || err != nil {
		return nil, err
	}
	used := map[string]bool{}
	share := func(alias, name string) (float64, error) {
		key, value, ok := paired.aliased(alias, name)
		if !ok {
			return 0, nil
		}
		used[key] = true
		return paired.percent(key, value)
	}
	p := &Paired{}
	if p.CandidatePercent, err = share("candidatePercent", "candidate_percent"); err != nil {
		return nil, err
	}
	if p.StablePercent, err = share("stablePercent", "stable_percent"); err != nil {
		return nil, err
	}
	for _, key := range paired.object.keys {
		if !used[key] {
			return nil, configError("%s: unknown field %s", paired.path, pyRepr(key))
		}
	}
	return p, nil
}

// stickyHeader: absent or null = none, else a non-empty string, trimmed and lower-cased.
func (s section) stickyHeader(alias, name string) (string, error) {
	key, value, ok := s.aliased(alias, name)
	if !ok || value == nil {
		return "", nil
	}
	header, err := s.trimmed(key, value)
	return strings.ToLower(header), err
}

// aliased is the field spelled by its alias, else by its Python name: the key found and its value.
func (s section) aliased(alias, name string) (string, any, bool) {
	for _, key := range []string{alias, name} {
		if value, ok := s.object.get(key); ok {
			return key, value, true
		}
	}
	return "", nil, false
}

// checkUpstream is an upstream normalised to `scheme://netloc`, or what is wrong with it: an http(s) URL with a host,
// no path other than "/", no query, no fragment. Like the schema, it does not read the port: a port that is not one
// (`http://a:x`) passes, is not resolved, and fails each request to it.
func checkUpstream(upstream string) (string, string) {
	u, err := splitURL(upstream)
	if err != nil {
		return "", err.Error()
	}
	if u.scheme != "http" && u.scheme != "https" || u.hostname() == "" {
		return "", "must be an http(s) URL"
	}
	if u.path != "" && u.path != "/" || u.query != "" || u.fragment != "" {
		return "", "must be scheme://host:port only"
	}
	return u.scheme + "://" + u.netloc, ""
}

// ResolveUpstream replaces an upstream whose "HOST:PORT" (port 80 for http, 443 for https when it has none or 0) is
// in resolve with `scheme://IP:PORT`, the target; any other upstream (one whose port is not 0-65535 too) is returned
// as it is.
func ResolveUpstream(upstream string, resolve map[string]string) string {
	u, err := splitURL(upstream)
	if err != nil {
		return upstream
	}
	port, ok := u.port()
	if !ok {
		return upstream
	}
	if port == 0 {
		port = 80
		if u.scheme == "https" {
			port = 443
		}
	}
	if target := resolve[u.hostname()+":"+strconv.Itoa(port)]; target != "" {
		return u.scheme + "://" + target
	}
	return upstream
}

// ParseResolve reads `HOST:PORT=IP:PORT` entries, as given on the command line; HOST:PORT is trimmed and lower-cased.
func ParseResolve(entries []string) (map[string]string, error) {
	mapping := map[string]string{}
	for _, entry := range entries {
		source, target, found := strings.Cut(entry, "=")
		if !found || !strings.Contains(source, ":") || !strings.Contains(target, ":") {
			return nil, configError("--resolve %s: expected HOST:PORT=IP:PORT", pyRepr(entry))
		}
		mapping[strings.ToLower(pyStrip(source))] = pyStrip(target)
	}
	return mapping, nil
}

// splitURLParts is a URL split as Python's urllib.parse.urlsplit splits it (the scheme lower-cased).
type splitURLParts struct{ scheme, netloc, path, query, fragment string }

var (
	urlUnsafe   = strings.NewReplacer("\t", "", "\r", "", "\n", "")
	ipvFuture   = regexp.MustCompile(`^v[a-fA-F0-9]+\..+$`)
	schemeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-."
)

// splitURL: urlsplit's steps, and its errors on brackets in the netloc (its NFKC check of a non-ASCII netloc is not
// made).
func splitURL(url string) (splitURLParts, error) {
	var u splitURLParts
	url = urlUnsafe.Replace(strings.TrimLeftFunc(url, func(r rune) bool { return r <= ' ' }))
	if i := strings.IndexByte(url, ':'); i > 0 && isASCIILetter(url[0]) &&
		strings.Trim(url[:i], schemeChars) == "" {
		u.scheme, url = strings.ToLower(url[:i]), url[i+1:]
	}
	if strings.HasPrefix(url, "//") {
		end := strings.IndexAny(url[2:], "/?#")
		if end < 0 {
			end = len(url) - 2
		}
		u.netloc, url = url[2:2+end], url[2+end:]
		opens, closes := strings.Contains(u.netloc, "["), strings.Contains(u.netloc, "]")
		if opens != closes {
			return u, errors.New("Invalid IPv6 URL")
		}
		if opens {
			_, bracketed, _ := strings.Cut(u.netloc, "[")
			host, _, _ := strings.Cut(bracketed, "]")
			if err := checkBracketedHost(host); err != nil {
				return u, err
			}
		}
	}
	url, u.fragment, _ = strings.Cut(url, "#")
	u.path, u.query, _ = strings.Cut(url, "?")
	return u, nil
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func checkBracketedHost(host string) error {
	if strings.HasPrefix(host, "v") {
		if !ipvFuture.MatchString(host) {
			return errors.New("IPvFuture address is invalid")
		}
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%s does not appear to be an IPv4 or IPv6 address", pyRepr(host))
	}
	if ip.Is4() {
		return errors.New("An IPv4 address cannot be in brackets")
	}
	return nil
}

// hostInfo is the netloc's host (brackets off) and port text, as urlsplit's result reads them.
func (u splitURLParts) hostInfo() (host, port string) {
	hostinfo := u.netloc[strings.LastIndexByte(u.netloc, '@')+1:]
	if _, bracketed, found := strings.Cut(hostinfo, "["); found {
		host, after, _ := strings.Cut(bracketed, "]")
		_, port, _ = strings.Cut(after, ":")
		return host, port
	}
	host, port, _ = strings.Cut(hostinfo, ":")
	return host, port
}

// hostname is the host lower-cased (an IPv6 zone kept as it is), "" when none.
func (u splitURLParts) hostname() string {
	host, _ := u.hostInfo()
	host, zone, found := strings.Cut(host, "%")
	if found {
		return strings.ToLower(host) + "%" + zone
	}
	return strings.ToLower(host)
}

// port is the netloc's port, 0 when it has none; false when it is not one (where urlsplit's port raises).
func (u splitURLParts) port() (int, bool) {
	_, text := u.hostInfo()
	if text == "" {
		return 0, true
	}
	port, err := strconv.Atoi(text)
	return port, err == nil && strings.Trim(text, "0123456789") == "" && port <= 65535
}

// jsonObject is a decoded JSON object whose keys keep their document order, as a Python dict's do (a repeated key
// keeps its first place and takes its last value).
type jsonObject struct {
	keys   []string
	values map[string]any
}

func (o *jsonObject) get(key string) (any, bool) {
	value, ok := o.values[key]
	return value, ok
}

var utf8BOM = []byte("\xef\xbb\xbf")

// maxJSONDepth bounds the nesting of arrays and objects, as encoding/json's Unmarshal does.
const maxJSONDepth = 10000

// decodeJSON decodes one JSON document as Python's json.loads decodes bytes: UTF-8 (after an optional BOM) throughout,
// nothing but whitespace after the value. Objects are *jsonObject, arrays []any, numbers json.Number, and strings,
// bools and null string, bool and nil.
func decodeJSON(text []byte) (any, error) {
	text = bytes.TrimPrefix(text, utf8BOM)
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, fmt.Errorf("invalid UTF-8 at byte %d", i)
		}
		i += size
	}
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.UseNumber()
	value, err := readJSON(decoder, 0)
	if err != nil {
		return nil, err
	}
	if _, err := decoder.Token(); err != io.EOF {
		return nil, errors.New("extra data after the value")
	}
	return value, nil
}

func readJSON(decoder *json.Decoder, depth int) (any, error) {
	token, err := decoder.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	if token == json.Delim('[') || token == json.Delim('{') {
		if depth == maxJSONDepth {
			return nil, fmt.Errorf("exceeded max depth at byte %d", decoder.InputOffset())
		}
	}
	switch token {
	case json.Delim('['):
		list := []any{}
		for decoder.More() {
			item, err := readJSON(decoder, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, item)
		}
		return list, closeJSON(decoder)
	case json.Delim('{'):
		object := &jsonObject{values: map[string]any{}}
		for decoder.More() {
			key, err := decoder.Token()
			if err != nil {
				return nil, err
			}
			value, err := readJSON(decoder, depth+1)
			if err != nil {
				return nil, err
			}
			if _, repeated := object.values[key.(string)]; !repeated {
				object.keys = append(object.keys, key.(string))
			}
			object.values[key.(string)] = value
		}
		return object, closeJSON(decoder)
	}
	return token, nil
}

// closeJSON reads the `]` or `}` that ends an array or object.
func closeJSON(decoder *json.Decoder) error {
	_, err := decoder.Token()
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isInteger(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

// jsonFloat is Python's float of a JSON number: an integer that float64 cannot hold is not one (false); a
// non-integer beyond it is ±inf, as Python's json makes it.
func jsonFloat(n json.Number) (float64, bool) {
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil || !isInteger(n)
}

// pyInt is Python's str of a JSON integer.
func pyInt(n json.Number) string {
	if n == "-0" {
		return "0"
	}
	return string(n)
}

// pyJSONRepr is Python's repr of a decoded JSON value.
func pyJSONRepr(value any) string {
	switch v := value.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case json.Number:
		if isInteger(v) {
			return pyInt(v)
		}
		f, _ := jsonFloat(v)
		return pyFloatRepr(f)
	case string:
		return pyRepr(v)
	case []any:
		items := make([]string, len(v))
		for i, item := range v {
			items[i] = pyJSONRepr(item)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case *jsonObject:
		members := make([]string, len(v.keys))
		for i, key := range v.keys {
			members[i] = pyRepr(key) + ": " + pyJSONRepr(v.values[key])
		}
		return "{" + strings.Join(members, ", ") + "}"
	}
	panic(fmt.Sprintf("not a decoded JSON value: %T", value))
}

// pyFloatRepr is Python's repr of a float: the shortest digits that read back, positional for exponents -4 to 15
// (with ".0" when whole), else scientific with a two-digit exponent at least.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	scientific := strconv.FormatFloat(f, 'e', -1, 64)
	exponent, _ := strconv.Atoi(scientific[strings.IndexByte(scientific, 'e')+1:])
	if exponent < -4 || exponent >= 16 {
		return scientific
	}
	positional := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(positional, ".") {
		positional += ".0"
	}
	return positional
}

// pyRepr is Python's repr of a str: single quotes unless it holds ' and no ", backslash escapes for the quote, the
// backslash, \t \n \r and the characters Python does not print.
func pyRepr(s string) string {
	quote := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteRune(quote)
	for _, r := range s {
		switch {
		case r == quote || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < ' ' || r == 0x7f || r > 0x7f && r <= 0xff && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r > 0xff && r <= 0xffff && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xffff && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteRune(quote)
	return b.String()
}

// pyStrings is Python's repr of a list of str.
func pyStrings(items []string) string {
	reprs := make([]string, len(items))
	for i, item := range items {
		reprs[i] = pyRepr(item)
	}
	return "[" + strings.Join(reprs, ", ") + "]"
}

// pyStrip is Python's str.strip(): Unicode White_Space and the separators \x1c-\x1f.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || '\x1c' <= r && r <= '\x1f' })
}
