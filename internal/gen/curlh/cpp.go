package main

// Just enough of a C preprocessor and enum reader to evaluate the integer
// constants libcurl's headers declare. It handles #define/#undef, function-
// like macros (libcurl declares its options through CURLOPT(...)), the
// #if family, and enumerators with implicit or explicit values. It does not
// follow #include: the caller feeds the headers it wants in order.

import (
	"fmt"
	"strconv"
	"strings"
)

type tokKind int

const (
	tIdent tokKind = iota
	tNumber
	tString
	tChar
	tPunct
)

type tok struct {
	kind tokKind
	text string
}

func (t tok) String() string { return t.text }

func joinToks(ts []tok) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, t.text)
	}
	return strings.Join(parts, " ")
}

type macro struct {
	name     string
	funcLike bool
	params   []string
	variadic bool
	body     []tok
	order    int
}

// Enumerator is one constant of a C enum.
type Enumerator struct {
	Name  string
	Value int64
	// Deprecated holds the arguments of a CURL_DEPRECATED(version, message)
	// attribute on the enumerator, as libcurl marks retired options.
	Deprecated []string
	order      int
}

type cpp struct {
	macros map[string]*macro
	// Enumerators in declaration order, and by name for expressions that
	// refer to earlier ones.
	enums    []*Enumerator
	enumVals map[string]int64
	code     []tok // active non-directive tokens, fed to the enum reader
	order    int

	// deprecation collects CURL_DEPRECATED arguments met while expanding.
	deprecation []string
}

func newCPP() *cpp {
	return &cpp{macros: map[string]*macro{}, enumVals: map[string]int64{}}
}

// stripComments splices continued lines and replaces comments by a space,
// in that order, as C translation phases 2 and 3 do.
func stripComments(src string) string {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\\\n", "")
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				j = len(src) - 1
			}
			b.WriteString(src[i : j+1])
			i = j
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				i = len(src)
			} else {
				i += 2 + end + 1
			}
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var puncts = []string{"...", "<<=", ">>=", "##", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "->", "++", "--",
	"+=", "-=", "*=", "/=", "%=", "&=", "|=", "^="}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func tokenize(s string) ([]tok, error) {
	var out []tok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\v':
			i++
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			out = append(out, tok{tIdent, s[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			// A preprocessing number: also covers "7.56.0" in
			// CURL_DEPRECATED(7.56.0, ...).
			j := i + 1
			for j < len(s) && (isIdentChar(s[j]) || s[j] == '.' ||
				(s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E' || s[j-1] == 'p' || s[j-1] == 'P')) {
				j++
			}
			out = append(out, tok{tNumber, s[i:j]})
			i = j
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated literal in %q", s)
			}
			k := tString
			if c == '\'' {
				k = tChar
			}
			out = append(out, tok{k, s[i : j+1]})
			i = j + 1
		default:
			p := string(c)
			for _, cand := range puncts {
				if strings.HasPrefix(s[i:], cand) {
					p = cand
					break
				}
			}
			out = append(out, tok{tPunct, p})
			i += len(p)
		}
	}
	return out, nil
}

type cond struct {
	active      bool // this branch is being compiled
	taken       bool // some branch of this #if chain was taken
	outerActive bool
}

// Feed preprocesses one header.
func (p *cpp) Feed(name, src string) error {
	var stack []cond
	active := func() bool { return len(stack) == 0 || stack[len(stack)-1].active }
	for n, line := range strings.Split(stripComments(src), "\n") {
		errf := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n+1, fmt.Sprintf(format, args...))
		}
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "#") {
			if active() {
				ts, err := tokenize(line)
				if err != nil {
					return errf("%v", err)
				}
				p.code = append(p.code, ts...)
			}
			continue
		}
		ts, err := tokenize(strings.TrimSpace(trimmed[1:]))
		if err != nil {
			return errf("%v", err)
		}
		if len(ts) == 0 {
			continue
		}
		dir, args := ts[0].text, ts[1:]
		switch dir {
		case "if", "ifdef", "ifndef":
			outer := active()
			v := false
			if outer {
				switch dir {
				case "ifdef", "ifndef":
					if len(args) == 0 || args[0].kind != tIdent {
						return errf("#%s without a name", dir)
					}
					_, v = p.macros[args[0].text]
					v = v == (dir == "ifdef")
				default:
					x, err := p.evalCond(args)
					if err != nil {
						return errf("#if %s: %v", joinToks(args), err)
					}
					v = x != 0
				}
			}
			stack = append(stack, cond{active: outer && v, taken: v, outerActive: outer})
		case "elif":
			if len(stack) == 0 {
				return errf("#elif without #if")
			}
			c := &stack[len(stack)-1]
			v := false
			if c.outerActive && !c.taken {
				x, err := p.evalCond(args)
				if err != nil {
					return errf("#elif %s: %v", joinToks(args), err)
				}
				v = x != 0
			}
			c.active = c.outerActive && v
			c.taken = c.taken || v
		case "else":
			if len(stack) == 0 {
				return errf("#else without #if")
			}
			c := &stack[len(stack)-1]
			c.active = c.outerActive && !c.taken
			c.taken = true
		case "endif":
			if len(stack) == 0 {
				return errf("#endif without #if")
			}
			stack = stack[:len(stack)-1]
		case "define":
			if !active() {
				continue
			}
			m, err := parseDefine(trimmed)
			if err != nil {
				return errf("%v", err)
			}
			p.order++
			m.order = p.order
			p.macros[m.name] = m
		case "undef":
			if active() && len(args) > 0 {
				delete(p.macros, args[0].text)
			}
		}
	}
	if len(stack) != 0 {
		return fmt.Errorf("%s: unterminated #if", name)
	}
	return nil
}

// parseDefine reads a #define line. Whether a macro is function-like depends
// on a "(" right after the name, without white space, so it works on text.
func parseDefine(line string) (*macro, error) {
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
	rest = strings.TrimSpace(strings.TrimPrefix(rest, "define"))
	i := 0
	for i < len(rest) && isIdentChar(rest[i]) {
		i++
	}
	if i == 0 {
		return nil, fmt.Errorf("bad #define %q", line)
	}
	m := &macro{name: rest[:i]}
	rest = rest[i:]
	if strings.HasPrefix(rest, "(") {
		end := strings.Index(rest, ")")
		if end < 0 {
			return nil, fmt.Errorf("bad #define %q", line)
		}
		m.funcLike = true
		for _, prm := range strings.Split(rest[1:end], ",") {
			prm = strings.TrimSpace(prm)
			switch {
			case prm == "":
			case prm == "...":
				m.variadic = true
				m.params = append(m.params, "__VA_ARGS__")
			default:
				m.params = append(m.params, prm)
			}
		}
		rest = rest[end+1:]
	}
	body, err := tokenize(rest)
	if err != nil {
		return nil, err
	}
	m.body = body
	return m, nil
}

// expand macro-expands ts. Names in hide are not expanded again, which is
// how C stops a macro from recursing into itself.
func (p *cpp) expand(ts []tok, hide map[string]bool) ([]tok, error) {
	var out []tok
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		m, ok := p.macros[t.text]
		if t.kind != tIdent || !ok || hide[t.text] {
			out = append(out, t)
			continue
		}
		inner := map[string]bool{t.text: true}
		for k := range hide {
			inner[k] = true
		}
		if !m.funcLike {
			x, err := p.expand(m.body, inner)
			if err != nil {
				return nil, err
			}
			out = append(out, x...)
			continue
		}
		if i+1 >= len(ts) || ts[i+1].text != "(" {
			out = append(out, t) // a function-like macro's name alone is not a call
			continue
		}
		args, next, err := splitArgs(ts, i+1)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", m.name, err)
		}
		i = next
		if m.name == "CURL_DEPRECATED" {
			for _, a := range args {
				p.deprecation = append(p.deprecation, joinToks(a))
			}
		}
		if len(m.params) == 0 && len(args) == 1 && len(args[0]) == 0 {
			args = nil
		}
		if m.variadic && len(args) > len(m.params) {
			va := args[len(m.params)-1]
			for _, a := range args[len(m.params):] {
				va = append(append(va, tok{tPunct, ","}), a...)
			}
			args = append(args[:len(m.params)-1], va)
		}
		if len(args) != len(m.params) {
			return nil, fmt.Errorf("macro %s takes %d arguments, got %d", m.name, len(m.params), len(args))
		}
		var body []tok
		for j := 0; j < len(m.body); j++ {
			b := m.body[j]
			if b.text == "#" && j+1 < len(m.body) {
				// Stringizing only ever feeds attribute messages here;
				// the exact text does not matter.
				body = append(body, tok{tString, `""`})
				j++
				continue
			}
			if b.text == "##" {
				return nil, fmt.Errorf("macro %s: token pasting is not supported", m.name)
			}
			if k := indexOf(m.params, b.text); b.kind == tIdent && k >= 0 {
				a, err := p.expand(args[k], hide)
				if err != nil {
					return nil, err
				}
				body = append(body, a...)
				continue
			}
			body = append(body, b)
		}
		x, err := p.expand(body, inner)
		if err != nil {
			return nil, err
		}
		out = append(out, x...)
	}
	return out, nil
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

// splitArgs splits the parenthesised, comma-separated list starting at
// ts[open] and returns the index of its closing parenthesis.
func splitArgs(ts []tok, open int) ([][]tok, int, error) {
	var args [][]tok
	var cur []tok
	depth := 0
	for i := open; i < len(ts); i++ {
		switch ts[i].text {
		case "(":
			depth++
			if depth == 1 {
				continue
			}
		case ")":
			depth--
			if depth == 0 {
				return append(args, cur), i, nil
			}
		case ",":
			if depth == 1 {
				args = append(args, cur)
				cur = nil
				continue
			}
		}
		cur = append(cur, ts[i])
	}
	return nil, 0, fmt.Errorf("unbalanced parentheses")
}

// evalCond evaluates an #if expression: defined(X) first, then macros, and
// whatever identifiers remain count as 0, as in C.
func (p *cpp) evalCond(ts []tok) (int64, error) {
	var pre []tok
	for i := 0; i < len(ts); i++ {
		if ts[i].text != "defined" {
			pre = append(pre, ts[i])
			continue
		}
		var name string
		switch {
		case i+3 < len(ts) && ts[i+1].text == "(" && ts[i+3].text == ")":
			name = ts[i+2].text
			i += 3
		case i+1 < len(ts):
			name = ts[i+1].text
			i++
		default:
			return 0, fmt.Errorf("bad defined")
		}
		v := "0"
		if _, ok := p.macros[name]; ok {
			v = "1"
		}
		pre = append(pre, tok{tNumber, v})
	}
	x, err := p.expand(pre, nil)
	if err != nil {
		return 0, err
	}
	return evalExpr(x, func(string) (int64, bool) { return 0, true })
}

// Value evaluates name the way the C compiler would see it at the end of
// the headers: as a macro if one is defined, else as an enumerator.
func (p *cpp) Value(name string) (int64, error) {
	x, err := p.expand([]tok{{tIdent, name}}, nil)
	if err != nil {
		return 0, err
	}
	return evalExpr(x, p.lookupEnum)
}

// canonical follows name through macros that only rename another name
// (#define CURLAUTH_GSSAPI CURLAUTH_NEGOTIATE).
func (p *cpp) canonical(name string) string {
	for seen := 0; seen < 100; seen++ {
		m, ok := p.macros[name]
		if !ok || m.funcLike || len(m.body) != 1 || m.body[0].kind != tIdent {
			break
		}
		name = m.body[0].text
	}
	return name
}

func (p *cpp) lookupEnum(name string) (int64, bool) {
	v, ok := p.enumVals[name]
	return v, ok
}

// ReadEnums parses every enum body in the code seen so far.
func (p *cpp) ReadEnums() error {
	ts := p.code
	for i := 0; i < len(ts); i++ {
		if ts[i].text != "enum" {
			continue
		}
		j := i + 1
		if j < len(ts) && ts[j].kind == tIdent {
			j++
		}
		if j >= len(ts) || ts[j].text != "{" {
			continue // a use of an enum type, not a definition
		}
		end := j + 1
		for depth := 1; end < len(ts) && depth > 0; end++ {
			switch ts[end].text {
			case "{":
				depth++
			case "}":
				depth--
			}
		}
		if err := p.readEnumBody(ts[j+1 : end-1]); err != nil {
			return err
		}
		i = end - 1
	}
	return nil
}

func (p *cpp) readEnumBody(body []tok) error {
	next := int64(0)
	for _, raw := range splitTop(body) {
		if len(raw) == 0 {
			continue // trailing comma
		}
		p.deprecation = nil
		x, err := p.expand(raw, nil)
		if err != nil {
			return fmt.Errorf("enumerator %s: %v", joinToks(raw), err)
		}
		dep := p.deprecation
		for _, e := range splitTop(x) {
			if len(e) == 0 {
				continue
			}
			if e[0].kind != tIdent {
				return fmt.Errorf("bad enumerator %q", joinToks(e))
			}
			name := e[0].text
			v := next
			if eq := indexTok(e, "="); eq >= 0 {
				v, err = evalExpr(e[eq+1:], p.lookupEnum)
				if err != nil {
					return fmt.Errorf("enumerator %s: %v", name, err)
				}
			} else if len(e) > 1 {
				return fmt.Errorf("bad enumerator %q", joinToks(e))
			}
			p.order++
			p.enums = append(p.enums, &Enumerator{Name: name, Value: v, Deprecated: dep, order: p.order})
			p.enumVals[name] = v
			next = v + 1
		}
	}
	return nil
}

func indexTok(ts []tok, s string) int {
	for i, t := range ts {
		if t.text == s {
			return i
		}
	}
	return -1
}

// splitTop splits at commas outside parentheses.
func splitTop(ts []tok) [][]tok {
	var out [][]tok
	var cur []tok
	depth := 0
	for _, t := range ts {
		switch t.text {
		case "(":
			depth++
		case ")":
			depth--
		case ",":
			if depth == 0 {
				out = append(out, cur)
				cur = nil
				continue
			}
		}
		cur = append(cur, t)
	}
	return append(out, cur)
}

// evalExpr evaluates an integer constant expression over already expanded
// tokens, with C's operator precedence. Casts to integer types are skipped.
func evalExpr(ts []tok, ident func(string) (int64, bool)) (int64, error) {
	e := &exprParser{ts: ts, ident: ident}
	v, err := e.ternary()
	if err != nil {
		return 0, err
	}
	if e.pos != len(ts) {
		return 0, fmt.Errorf("unexpected %q in %q", ts[e.pos].text, joinToks(ts))
	}
	return v, nil
}

type exprParser struct {
	ts    []tok
	pos   int
	ident func(string) (int64, bool)
}

func (e *exprParser) peek() string {
	if e.pos < len(e.ts) {
		return e.ts[e.pos].text
	}
	return ""
}

var binPrec = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
	"==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
	"<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}

func (e *exprParser) ternary() (int64, error) {
	c, err := e.binary(1)
	if err != nil || e.peek() != "?" {
		return c, err
	}
	e.pos++
	a, err := e.ternary()
	if err != nil {
		return 0, err
	}
	if e.peek() != ":" {
		return 0, fmt.Errorf("missing : in conditional expression")
	}
	e.pos++
	b, err := e.ternary()
	if err != nil {
		return 0, err
	}
	if c != 0 {
		return a, nil
	}
	return b, nil
}

func (e *exprParser) binary(min int) (int64, error) {
	l, err := e.unary()
	if err != nil {
		return 0, err
	}
	for {
		op := e.peek()
		prec, ok := binPrec[op]
		if !ok || prec < min || e.pos >= len(e.ts) || e.ts[e.pos].kind != tPunct {
			return l, nil
		}
		e.pos++
		r, err := e.binary(prec + 1)
		if err != nil {
			return 0, err
		}
		if l, err = apply(op, l, r); err != nil {
			return 0, err
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func apply(op string, l, r int64) (int64, error) {
	switch op {
	case "||":
		return b2i(l != 0 || r != 0), nil
	case "&&":
		return b2i(l != 0 && r != 0), nil
	case "|":
		return l | r, nil
	case "^":
		return l ^ r, nil
	case "&":
		return l & r, nil
	case "==":
		return b2i(l == r), nil
	case "!=":
		return b2i(l != r), nil
	case "<":
		return b2i(l < r), nil
	case ">":
		return b2i(l > r), nil
	case "<=":
		return b2i(l <= r), nil
	case ">=":
		return b2i(l >= r), nil
	case "<<":
		return l << uint(r), nil
	case ">>":
		return l >> uint(r), nil
	case "+":
		return l + r, nil
	case "-":
		return l - r, nil
	case "*":
		return l * r, nil
	case "/", "%":
		if r == 0 {
			return 0, fmt.Errorf("division by zero")
		}
		if op == "/" {
			return l / r, nil
		}
		return l % r, nil
	}
	return 0, fmt.Errorf("unknown operator %s", op)
}

var castWords = map[string]bool{
	"char": true, "short": true, "int": true, "long": true, "signed": true, "unsigned": true,
	"curl_off_t": true, "size_t": true,
}

func (e *exprParser) unary() (int64, error) {
	switch e.peek() {
	case "-", "+", "~", "!":
		op := e.peek()
		e.pos++
		v, err := e.unary()
		if err != nil {
			return 0, err
		}
		switch op {
		case "-":
			return -v, nil
		case "~":
			return ^v, nil
		case "!":
			return b2i(v == 0), nil
		}
		return v, nil
	case "(":
		// A cast such as (unsigned long) is skipped: int64 holds the same
		// bits, which is what the check against the C compiler compares
		// ((long long) of CURLAUTH_ANY, an unsigned long, is negative too).
		j := e.pos + 1
		for j < len(e.ts) && castWords[e.ts[j].text] {
			j++
		}
		if j > e.pos+1 && j < len(e.ts) && e.ts[j].text == ")" {
			e.pos = j + 1
			return e.unary()
		}
		e.pos++
		v, err := e.ternary()
		if err != nil {
			return 0, err
		}
		if e.peek() != ")" {
			return 0, fmt.Errorf("missing )")
		}
		e.pos++
		return v, nil
	}
	if e.pos >= len(e.ts) {
		return 0, fmt.Errorf("unexpected end of expression")
	}
	t := e.ts[e.pos]
	e.pos++
	switch t.kind {
	case tNumber:
		return parseCInt(t.text)
	case tChar:
		s, err := strconv.Unquote(t.text)
		if err != nil || len(s) != 1 {
			return 0, fmt.Errorf("unsupported character constant %s", t.text)
		}
		return int64(s[0]), nil
	case tIdent:
		if v, ok := e.ident(t.text); ok {
			return v, nil
		}
		return 0, fmt.Errorf("unknown identifier %s", t.text)
	}
	return 0, fmt.Errorf("unexpected %q", t.text)
}

func parseCInt(s string) (int64, error) {
	s = strings.TrimRight(s, "uUlL")
	base := 10
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer constant: %v", err)
	}
	return int64(v), nil
}
