package api

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"go.yaml.in/yaml/v3"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
)

// The tests of this file keep docs/openapi.yaml, the public contract, in
// step with the route table and the handlers. They need no database: the
// table is built on empty Deps, and what a handler does with a request is
// found by calling it with a request that fails before any service is used
// (a handler that reaches a service meets a nil one and panics, which is
// recovered and read as "got past the step probed").

// specOp is one operation of the document.
type specOp struct {
	method, path string
	node         map[string]any
}

func loadSpec(t *testing.T) (map[string]any, []specOp) {
	t.Helper()
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("docs/openapi.yaml has no paths")
	}
	var ops []specOp
	for p, v := range paths {
		item, _ := v.(map[string]any)
		for m, o := range item {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
			default:
				continue
			}
			node, _ := o.(map[string]any)
			ops = append(ops, specOp{method: strings.ToUpper(m), path: p, node: node})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+" "+ops[i].method < ops[j].path+" "+ops[j].method })
	return doc, ops
}

func specServer() *Server { return New(Deps{}) }

// servedRoutes lists METHOD path of every route the server answers: the
// table, and what the router serves beside it (/metrics).
func servedRoutes(t *testing.T, s *Server) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, rt := range s.table {
		out[rt.method+" "+rt.path] = true
	}
	err := s.router.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		p, err := r.GetPathTemplate()
		if err != nil {
			return nil
		}
		ms, err := r.GetMethods()
		if err != nil { // operator routes: any method, the table's checked
			return nil
		}
		for _, m := range ms {
			out[m+" "+p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenAPIOperationsMatchRoutes: every route of the server is an
// operation of the document, and every operation is a route.
func TestOpenAPIOperationsMatchRoutes(t *testing.T) {
	_, ops := loadSpec(t)
	documented := map[string]bool{}
	for _, op := range ops {
		documented[op.method+" "+op.path] = true
	}
	served := servedRoutes(t, specServer())
	for _, k := range slices.Sorted(maps.Keys(served)) {
		if !documented[k] {
			t.Errorf("docs/openapi.yaml does not document %s", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(documented)) {
		if !served[k] {
			t.Errorf("docs/openapi.yaml documents %s, which is no route", k)
		}
	}
}

func opIndex(ops []specOp) map[string]specOp {
	out := map[string]specOp{}
	for _, op := range ops {
		out[op.method+" "+op.path] = op
	}
	return out
}

func roleNames(rs []tenants.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	sort.Strings(out)
	return out
}

func stringList(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, true
}

// roleMention finds the roles an operation's prose names ("Roles finance,
// admin.", "(role marketplace)", "Role admin of the operator tenant").
var roleMention = regexp.MustCompile(`\b[Rr]oles? ((?:marketplace|dispute_agent|risk_reviewer|finance|admin)(?:(?:, | and |, and )(?:marketplace|dispute_agent|risk_reviewer|finance|admin))*)\b`)

// TestOpenAPIRoles: every operation says in x-roles which roles may call
// it, as the route table does; a public route has none, and no security.
// A sentence of the summary or description that names roles names the
// same ones.
func TestOpenAPIRoles(t *testing.T) {
	_, ops := loadSpec(t)
	idx := opIndex(ops)
	s := specServer()
	for _, rt := range s.table {
		op, ok := idx[rt.method+" "+rt.path]
		if !ok {
			continue // TestOpenAPIOperationsMatchRoutes
		}
		name := rt.method + " " + rt.path
		got, hasRoles := op.node["x-roles"]
		if rt.roles == nil {
			if hasRoles {
				t.Errorf("%s is public, but its operation has x-roles %v", name, got)
			}
			if sec, ok := op.node["security"].([]any); !ok || len(sec) != 0 {
				t.Errorf("%s is public: its operation needs security: []", name)
			}
			continue
		}
		want := roleNames(rt.roles)
		list, ok := stringList(got)
		switch {
		case !hasRoles:
			t.Errorf("%s: no x-roles; the route table allows %v", name, want)
		case !ok:
			t.Errorf("%s: x-roles %v is not a list of role names", name, got)
		case !slices.Equal(list, want):
			t.Errorf("%s: x-roles %v, the route table allows %v", name, list, want)
		}
		for _, key := range []string{"summary", "description"} {
			text, _ := op.node[key].(string)
			for _, m := range roleMention.FindAllStringSubmatch(text, -1) {
				named := strings.FieldsFunc(strings.ReplaceAll(m[1], " and ", ","), func(r rune) bool { return r == ',' || r == ' ' })
				sort.Strings(named)
				if !slices.Equal(slices.Compact(named), want) {
					t.Errorf("%s: its %s says %q, the route table allows %v", name, key, m[0], want)
				}
			}
		}
	}
}

var pathVarPattern = regexp.MustCompile(`\{([a-z_]+)\}`)

// probe calls rt's handler with a request whose path variables are all
// vars and whose body is body (JSON), as a key of rt's first role, and
// answers the problem it returned ("" when it returned none, or reached a
// service: see the file comment).
func probe(s *Server, rt route, vars string, body string) (status int, code string) {
	r := httptest.NewRequest(rt.method, pathVarPattern.ReplaceAllString(rt.path, vars), strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	v := map[string]string{}
	for _, m := range pathVarPattern.FindAllStringSubmatch(rt.path, -1) {
		v[m[1]] = vars
	}
	r = mux.SetURLVars(r, v)
	p := tenants.Principal{TenantID: uuid.New(), KeyID: uuid.New()}
	if len(rt.roles) > 0 {
		p.Role = rt.roles[0]
	}
	r = r.WithContext(context.WithValue(r.Context(), keyPrincipal, &principalBox{p: p, set: true}))
	var err error
	func() {
		defer func() {
			if recover() != nil {
				err = nil
			}
		}()
		switch {
		case rt.write != nil:
			_, err = rt.write(r, []byte(body))
		case rt.read != nil:
			_, err = rt.read(r)
		}
	}()
	if err == nil {
		return 0, ""
	}
	pr := problemFor(slog.New(slog.DiscardHandler), r, err)
	return pr.Status, pr.Code
}

// decodesJSON reports whether rt's handler decodes a JSON body: a field
// no request type has is 400 unknown_field.
func decodesJSON(s *Server, rt route) bool {
	if rt.write == nil {
		return false
	}
	st, code := probe(s, rt, uuid.NewString(), `{"zz_openapi_probe":true}`)
	return st == http.StatusBadRequest && code == "unknown_field"
}

// takesID reports whether rt looks up a resource by a path id: a path
// variable that is no id is 404.
func takesID(s *Server, rt route) bool {
	if !strings.Contains(rt.path, "{") || (rt.read == nil && rt.write == nil) {
		return false
	}
	body := ""
	if rt.write != nil {
		body = "{}"
	}
	st, code := probe(s, rt, "zz-no-such-id", body)
	return st == http.StatusNotFound && code == "not_found"
}

func mediaTypes(op specOp) (map[string]bool, bool) {
	rb, ok := op.node["requestBody"].(map[string]any)
	if !ok {
		return nil, false
	}
	content, _ := rb["content"].(map[string]any)
	out := map[string]bool{}
	for mt, v := range content {
		if m, ok := v.(map[string]any); ok && m["schema"] != nil {
			out[mt] = true
		}
	}
	return out, true
}

// TestOpenAPIRequestBodies: a write route that decodes a JSON body
// documents it (requestBody with an application/json schema); one that
// accepts other media types documents each.
func TestOpenAPIRequestBodies(t *testing.T) {
	_, ops := loadSpec(t)
	idx := opIndex(ops)
	s := specServer()
	decoding := 0
	for _, rt := range s.table {
		op, ok := idx[rt.method+" "+rt.path]
		if !ok || rt.write == nil {
			continue
		}
		name := rt.method + " " + rt.path
		var want []string
		if decodesJSON(s, rt) {
			decoding++
			want = append(want, "application/json")
		}
		for _, a := range rt.accept {
			if a != "application/json" || want == nil {
				want = append(want, a)
			}
		}
		if len(want) == 0 {
			continue
		}
		got, ok := mediaTypes(op)
		if !ok {
			t.Errorf("%s takes a body (%s) but documents no requestBody", name, strings.Join(want, ", "))
			continue
		}
		for _, mt := range want {
			if !got[mt] {
				t.Errorf("%s takes %s but its requestBody has no schema for it", name, mt)
			}
		}
	}
	// The probe itself must work: most write routes decode JSON.
	if decoding < 20 {
		t.Errorf("only %d write routes found decoding JSON: the probe is broken", decoding)
	}
}

// TestOpenAPIErrorResponses: what every route can answer whatever its
// resource: 400 (a parameter that is not storable text, a bad body or
// Idempotency-Key), 401 and 403 on an authenticated route, 404 on a route
// that looks up the resource of a path id, 415 on a route that takes a
// body.
func TestOpenAPIErrorResponses(t *testing.T) {
	_, ops := loadSpec(t)
	idx := opIndex(ops)
	s := specServer()
	withID := 0
	for _, rt := range s.table {
		op, ok := idx[rt.method+" "+rt.path]
		if !ok || rt.roles == nil {
			continue
		}
		name := rt.method + " " + rt.path
		resp, _ := op.node["responses"].(map[string]any)
		want := []string{"400", "401", "403"}
		if rt.operator || takesID(s, rt) {
			want = append(want, "404")
			withID++
		}
		if rt.write != nil {
			want = append(want, "415")
		}
		for _, st := range want {
			if _, ok := resp[st]; !ok {
				t.Errorf("%s: no %s response", name, st)
			}
		}
	}
	if withID < 30 {
		t.Errorf("only %d routes found looking up a path id: the probe is broken", withID)
	}
}

// TestOpenAPIProblemCodes: every problem code the API answers with
// (errorTable, and the codes api/*.go writes itself) is named in the
// document.
func TestOpenAPIProblemCodes(t *testing.T) {
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	words := map[string]bool{}
	for _, w := range regexp.MustCompile(`[a-z0-9_]+`).FindAllString(string(b), -1) {
		words[w] = true
	}
	codes := map[string]string{}
	for _, e := range errorTable {
		codes[e.code] = "errorTable"
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			id, ok := call.Fun.(*ast.Ident)
			if !ok || (id.Name != "problemf" && id.Name != "fieldProblem" && id.Name != "newProblem") {
				return true
			}
			if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if c, err := strconv.Unquote(lit.Value); err == nil {
					codes[c] = fmt.Sprint(fset.Position(lit.Pos()))
				}
			}
			return true
		})
	}
	if len(codes) < 40 {
		t.Fatalf("only %d problem codes found: the scan is broken", len(codes))
	}
	for _, c := range slices.Sorted(maps.Keys(codes)) {
		if !words[c] {
			t.Errorf("problem code %s (%s) is not in docs/openapi.yaml", c, codes[c])
		}
	}
}

// TestOpenAPISchemasMatchJSON: each schema of components.schemas that
// describes a response documents every member its Go type renders, and no
// member it does not.
func TestOpenAPISchemasMatchJSON(t *testing.T) {
	doc, _ := loadSpec(t)
	schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, typ := range map[string]reflect.Type{
		"Party":           reflect.TypeFor[escrow.Party](),
		"Escrow":          reflect.TypeFor[escrowJSON](),
		"Release":         reflect.TypeFor[payoutJSON](),
		"Event":           reflect.TypeFor[outbox.Event](),
		"WebhookEndpoint": reflect.TypeFor[outbox.Endpoint](),
		"FXQuote":         reflect.TypeFor[quoteJSON](),
		"LedgerAccount":   reflect.TypeFor[ledgerAccountJSON](),
		"LedgerEntry":     reflect.TypeFor[ledgerEntryJSON](),
		"Dispute":         reflect.TypeFor[disputeJSON](),
		"Chargeback":      reflect.TypeFor[chargebackJSON](),
		"EvidenceInput":   reflect.TypeFor[disputes.EvidenceRequest](),
		"Problem":         reflect.TypeFor[Problem](),
	} {
		sc, ok := schemas[name].(map[string]any)
		if !ok {
			t.Errorf("components.schemas.%s is missing", name)
			continue
		}
		props, _ := sc["properties"].(map[string]any)
		documented := slices.Sorted(maps.Keys(props))
		code := slices.Sorted(maps.Keys(structFields(typ))) // the names encoding/json uses
		for _, f := range code {
			if _, ok := props[f]; !ok {
				t.Errorf("components.schemas.%s does not document %s (%s renders it)", name, f, typ)
			}
		}
		for _, f := range documented {
			if !slices.Contains(code, f) {
				t.Errorf("components.schemas.%s documents %s, which %s does not render", name, f, typ)
			}
		}
	}
}

// resolveSchema follows sc's $ref into components.schemas.
func resolveSchema(doc map[string]any, sc map[string]any) map[string]any {
	for i := 0; i < 10 && sc != nil; i++ {
		ref, ok := sc["$ref"].(string)
		if !ok {
			break
		}
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		sc, _ = doc["components"].(map[string]any)["schemas"].(map[string]any)[name].(map[string]any)
	}
	return sc
}

// documentedMember is one member a request schema documents, at any
// depth: its path ("fees.paid_by", "milestones[0].name") and the smallest
// body holding it (a null leaf).
type documentedMember struct {
	path string
	body any
}

// documentedMembers lists every member of schema sc, through $ref,
// allOf/oneOf/anyOf, properties and array items, to depth 6.
func documentedMembers(doc map[string]any, sc map[string]any, depth int) []documentedMember {
	sc = resolveSchema(doc, sc)
	if sc == nil || depth > 6 {
		return nil
	}
	var out []documentedMember
	for _, key := range []string{"allOf", "oneOf", "anyOf"} {
		l, _ := sc[key].([]any)
		for _, x := range l {
			m, _ := x.(map[string]any)
			out = append(out, documentedMembers(doc, m, depth+1)...)
		}
	}
	props, _ := sc["properties"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(props)) {
		out = append(out, documentedMember{k, map[string]any{k: nil}})
		p, _ := props[k].(map[string]any)
		p = resolveSchema(doc, p)
		if p == nil {
			continue
		}
		for _, sub := range documentedMembers(doc, p, depth+1) {
			out = append(out, documentedMember{k + "." + sub.path, map[string]any{k: sub.body}})
		}
		if it, ok := p["items"].(map[string]any); ok {
			for _, sub := range documentedMembers(doc, it, depth+1) {
				out = append(out, documentedMember{k + "[0]." + sub.path, map[string]any{k: []any{sub.body}}})
			}
		}
	}
	return out
}

// TestOpenAPIRequestFieldsExist: every member a JSON request body
// documents, nested ones included (buyer.email, fees.paid_by,
// milestones[0].name), is one its handler takes: names are matched
// exactly, and a member it does not know is 400 unknown_field.
func TestOpenAPIRequestFieldsExist(t *testing.T) {
	doc, ops := loadSpec(t)
	idx := opIndex(ops)
	s := specServer()
	checked, nested := 0, 0
	for _, rt := range s.table {
		op, ok := idx[rt.method+" "+rt.path]
		if !ok || !decodesJSON(s, rt) {
			continue
		}
		rb, _ := op.node["requestBody"].(map[string]any)
		content, _ := rb["content"].(map[string]any)
		mt, _ := content["application/json"].(map[string]any)
		sc, _ := mt["schema"].(map[string]any)
		for _, m := range documentedMembers(doc, sc, 0) {
			checked++
			if strings.ContainsAny(m.path, ".[") {
				nested++
			}
			body, _ := json.Marshal(m.body)
			if st, code := probe(s, rt, uuid.NewString(), string(body)); st == http.StatusBadRequest && code == "unknown_field" {
				t.Errorf("%s %s: the requestBody documents %s, which the handler does not take (body %s)", rt.method, rt.path, m.path, body)
			}
		}
	}
	if checked < 50 || nested < 20 {
		t.Errorf("only %d documented request members checked, %d of them nested: the probe is broken", checked, nested)
	}
}
