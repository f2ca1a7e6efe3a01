package scenario

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/scanner"
	"github.com/goccy/go-yaml/token"
)

// Bounds on what a definition file may ask of the YAML library. goccy/go-yaml parses in time
// that grows faster than the input (quadratic in the keys of one mapping, in the documents of a
// stream and in flow nesting) and expands every alias where it is used, so a file of a few
// hundred bytes can ask for gigabytes. A real rig file is a few hundred tokens deep in 5 levels;
// the bounds are far above that and far below harm. They are checked on the token stream before
// parsing and on the syntax tree before decoding.
const (
	maxTokens = 20000  // tokens of one file
	maxDepth  = 64     // nesting of mappings and sequences
	maxNodes  = 100000 // nodes the decoder would visit, each alias counted at the size of its anchor
)

// checkTokens bounds the token count and the nesting depth before the parser sees the file. It
// scans as lexer.Tokenize does, but stops at the bound (the scanner still hands out most of a
// line or a flow collection at once: a file of brackets holds one token per byte, at a few
// hundred bytes each, which is why infile.MaxDefinition is small).
func checkTokens(name string, src string) error {
	var sc scanner.Scanner
	sc.Init(src)
	var tks token.Tokens
	for len(tks) <= maxTokens {
		sub, err := sc.Scan()
		if err == io.EOF {
			break
		}
		tks = append(tks, sub...)
	}
	if len(tks) > maxTokens {
		return &FileError{File: name, Line: line(tks[maxTokens]), Msg: fmt.Sprintf("more than %d YAML tokens: a rig file holds a few hundred; is it the right file?", maxTokens)}
	}
	flow := 0
	var block []int // columns of the open block collections
	for i, tk := range tks {
		col := 0
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.DocumentHeaderType, token.DocumentEndType:
			block = block[:0]
		case token.SequenceEntryType:
			col = column(tk)
		case token.MappingValueType:
			col = column(tk) // the key's column when the key precedes the colon
			if i > 0 {
				col = column(tks[i-1])
			}
		}
		if col > 0 && flow == 0 {
			for len(block) > 0 && block[len(block)-1] >= col {
				block = block[:len(block)-1]
			}
			block = append(block, col)
		}
		if flow+len(block) > maxDepth {
			return &FileError{File: name, Line: line(tk), Msg: fmt.Sprintf("nested more than %d levels deep: a rig file nests a few levels", maxDepth)}
		}
	}
	return nil
}

func line(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

func column(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Column
}

// checkTree refuses what the decoder cannot be trusted with: tags (goccy panics on some, and no
// rig file needs one) and aliases that expand the document beyond maxNodes. Anchors are sized in
// document order, as the decoder resolves them; an alias to an anchor not yet complete (itself)
// counts as one node and is left to the decoder to refuse.
func checkTree(name string, body ast.Node) error {
	anchors := map[string]int{}
	total := 0
	var size func(n ast.Node, path string) (int, error)
	size = func(n ast.Node, path string) (int, error) {
		if n == nil {
			return 0, nil
		}
		s := 1
		add := func(c ast.Node, p string) error {
			cs, err := size(c, p)
			s += cs
			return err
		}
		var err error
		switch v := n.(type) {
		case *ast.TagNode:
			return 0, &FileError{File: name, Line: line(v.GetToken()), Field: path,
				Msg: fmt.Sprintf("YAML tag %s: rig files use no tags (remove it; quote the value to make it a string)", v.Start.Value)}
		case *ast.AnchorNode:
			anchor := v.Name.GetToken().Value
			if err = add(v.Value, path); err == nil {
				anchors[anchor] = s
			}
		case *ast.AliasNode:
			if as, ok := anchors[v.Value.GetToken().Value]; ok {
				s = as
			}
			total += s
			if total > maxNodes {
				return 0, &FileError{File: name, Line: line(v.GetToken()), Field: path,
					Msg: fmt.Sprintf("aliases expand the file beyond %d YAML nodes (an alias bomb?): write the values out or use fewer aliases", maxNodes)}
			}
			return s, nil
		case *ast.DocumentNode:
			err = add(v.Body, path)
		case *ast.MappingNode:
			for _, mv := range v.Values {
				if err = add(mv, path); err != nil {
					break
				}
			}
		case *ast.MappingValueNode:
			p := join(path, v.Key)
			if err = add(v.Key, p); err == nil {
				err = add(v.Value, p)
			}
		case *ast.MappingKeyNode:
			err = add(v.Value, path)
		case *ast.SequenceNode:
			for i, e := range v.Values {
				if err = add(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					break
				}
			}
		}
		if err != nil {
			return 0, err
		}
		if _, alias := n.(*ast.AliasNode); !alias {
			total++
		}
		if total > maxNodes {
			return 0, &FileError{File: name, Line: line(n.GetToken()), Field: path,
				Msg: fmt.Sprintf("more than %d YAML nodes: a rig file holds a few hundred; is it the right file?", maxNodes)}
		}
		return s, nil
	}
	_, err := size(body, "")
	return err
}

func join(path string, key ast.Node) string {
	k := key.String()
	if _, merge := key.(*ast.MergeKeyNode); merge {
		return path // a merge key's mapping lands in the mapping that holds it
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// checkTypes refuses what goccy/go-yaml would convert silently: a string or a fraction where an
// integer is meant ("4096" → 4096, 2048.7 → 2048), a string where a number or a boolean is
// meant. t is the Go type the node decodes into; types with their own UnmarshalYAML check
// themselves. An empty value (null) is left to mean "unset", as everywhere in YAML.
func checkTypes(name string, n ast.Node, t reflect.Type, path string, anchors map[string]ast.Node) error {
	return checkTypesAt(name, n, t, path, anchors, 0)
}

func checkTypesAt(name string, n ast.Node, t reflect.Type, path string, anchors map[string]ast.Node, depth int) error {
	if depth > 2*maxDepth {
		return nil // a mapping merged into itself: the decoder refuses it
	}
	depth++
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	n = resolve(n, anchors)
	if n == nil || reflect.PointerTo(t).Implements(nodeUnmarshaler) {
		return nil
	}
	if _, null := n.(*ast.NullNode); null {
		return nil
	}
	bad := func(want string) error {
		return &FileError{File: name, Line: line(n.GetToken()), Field: path,
			Msg: fmt.Sprintf("wrong type: want %s, got %s", want, describe(n))}
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, ok := n.(*ast.IntegerNode); !ok {
			return bad("an integer")
		}
	case reflect.Float32, reflect.Float64:
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode:
		default:
			return bad("a number")
		}
	case reflect.Bool:
		if _, ok := n.(*ast.BoolNode); !ok {
			return bad("true or false")
		}
	case reflect.Struct:
		return eachValue(n, anchors, func(key string, v ast.Node, merge bool) error {
			if merge {
				return checkTypesAt(name, v, t, path, anchors, depth)
			}
			if f, ok := fieldByKey(t, key); ok {
				return checkTypesAt(name, v, f.Type, joinKey(path, key), anchors, depth)
			}
			return nil // an unknown field: the decoder names it
		})
	case reflect.Map:
		return eachValue(n, anchors, func(key string, v ast.Node, merge bool) error {
			if merge {
				return checkTypesAt(name, v, t, path, anchors, depth)
			}
			return checkTypesAt(name, v, t.Elem(), joinKey(path, key), anchors, depth)
		})
	case reflect.Slice, reflect.Array:
		if s, ok := n.(*ast.SequenceNode); ok {
			for i, e := range s.Values {
				if err := checkTypesAt(name, e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), anchors, depth); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

var nodeUnmarshaler = reflect.TypeFor[interface{ UnmarshalYAML(ast.Node) error }]()

// eachValue calls fn for every key of a mapping node (merge keys with merge set).
func eachValue(n ast.Node, anchors map[string]ast.Node, fn func(key string, v ast.Node, merge bool) error) error {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	}
	for _, mv := range values {
		_, merge := mv.Key.(*ast.MergeKeyNode)
		key := ""
		if k := resolve(mv.Key, anchors); k != nil {
			key = k.GetToken().Value
		}
		if err := fn(key, mv.Value, merge); err != nil {
			return err
		}
	}
	return nil
}

// resolve looks through anchors, aliases (to anchors already defined) and explicit keys.
func resolve(n ast.Node, anchors map[string]ast.Node) ast.Node {
	for range maxDepth {
		switch v := n.(type) {
		case *ast.AnchorNode:
			anchors[v.Name.GetToken().Value] = v.Value
			n = v.Value
		case *ast.AliasNode:
			n = anchors[v.Value.GetToken().Value]
		case *ast.MappingKeyNode:
			n = v.Value
		default:
			return n
		}
	}
	return nil
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == key || (tag == "" && strings.EqualFold(f.Name, key)) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return fmt.Sprintf("the string %q (write numbers and true/false without quotes)", v.Value)
	case *ast.FloatNode:
		return fmt.Sprintf("%s, which is not a whole number", v.GetToken().Value)
	case *ast.IntegerNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return n.String()
}
