package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Dashboard is the part of a Grafana dashboard JSON model the tests read.
type Dashboard struct {
	UID        string          `json:"uid"`
	Title      string          `json:"title"`
	Inputs     json.RawMessage `json:"__inputs"`
	Panels     []Panel         `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []Annotation `json:"list"`
	} `json:"annotations"`
}

// Annotation is a dashboard annotation query; Prometheus ones have an
// expression.
type Annotation struct {
	Name       string          `json:"name"`
	Datasource json.RawMessage `json:"datasource"`
	Enable     bool            `json:"enable"`
	Expr       string          `json:"expr"`
	Step       string          `json:"step"`
	BuiltIn    int             `json:"builtIn"`
}

// Panel is a dashboard panel; rows hold their panels in Panels.
type Panel struct {
	ID              int             `json:"id"`
	Type            string          `json:"type"`
	Title           string          `json:"title"`
	Description     string          `json:"description"`
	Datasource      json.RawMessage `json:"datasource"`
	Targets         []Target        `json:"targets"`
	Panels          []Panel         `json:"panels"`
	Repeat          string          `json:"repeat"`
	Options         json.RawMessage `json:"options"`
	FieldConfig     json.RawMessage `json:"fieldConfig"`
	Transformations []struct {
		ID string `json:"id"`
	} `json:"transformations"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string          `json:"refId"`
	Expr       string          `json:"expr"`
	Datasource json.RawMessage `json:"datasource"`
	Hide       bool            `json:"hide"`
	Instant    bool            `json:"instant"`
	Range      bool            `json:"range"`
	Exemplar   bool            `json:"exemplar"`
	Format     string          `json:"format"`
	// LegendFormat names the query's series ({{label}} placeholders).
	LegendFormat string `json:"legendFormat"`
}

// Variable is a templating variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource json.RawMessage `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// QueryString returns the variable's query whether it is stored as a string
// (older dashboards, datasource variables) or as a query-editor object.
func (v Variable) QueryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var obj struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &obj) == nil && obj.Query != "" {
		return obj.Query
	}
	return v.Definition
}

// LoadDashboard reads a dashboard JSON file.
func LoadDashboard(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// Expr is a PromQL expression found in one of the kit's files.
type Expr struct {
	Origin string // where it comes from, for messages
	Expr   string
	Alert  string // the alert's name, for an alerting rule
}

// AllPanels returns every panel, rows' nested panels included, in order.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Exprs returns the expression of every visible panel query and of every
// Prometheus annotation.
func (d *Dashboard) Exprs() []Expr {
	var out []Expr
	for _, a := range d.Annotations.List {
		if strings.TrimSpace(a.Expr) != "" {
			out = append(out, Expr{Origin: fmt.Sprintf("annotation %q", a.Name), Expr: a.Expr})
		}
	}
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			if t.Hide || strings.TrimSpace(t.Expr) == "" {
				continue
			}
			out = append(out, Expr{
				Origin: fmt.Sprintf("panel %q query %s", p.Title, t.RefID),
				Expr:   t.Expr,
			})
		}
	}
	return out
}

// QueryVariables returns the variables of type "query", in dashboard order
// (the order in which Grafana resolves them).
func (d *Dashboard) QueryVariables() []Variable {
	var out []Variable
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			out = append(out, v)
		}
	}
	return out
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\s*\(\s*(?:(.*\S)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
var queryResultRE = regexp.MustCompile(`^\s*query_result\s*\(\s*(.*\S)\s*\)\s*$`)

// VariableQuery turns a Prometheus variable query of Grafana into a PromQL
// expression whose result's `label` values are the variable's values.
// label_values(expr, label) and label_values(label) are supported, and
// query_result(expr) (label is then "").
func VariableQuery(q string) (expr, label string, err error) {
	if m := labelValuesRE.FindStringSubmatch(q); m != nil {
		label = m[2]
		sel := m[1]
		if sel == "" {
			sel = "{" + label + `!=""}`
		}
		return "count by (" + label + ") (" + sel + ")", label, nil
	}
	if m := queryResultRE.FindStringSubmatch(q); m != nil {
		return m[1], "", nil
	}
	return "", "", fmt.Errorf("unsupported variable query %q", q)
}

// VariableValue is the text Grafana substitutes for a variable with these
// values when its default is taken: "All" for multi-value or include-all
// variables (the allValue, or a regex alternation of every value), else the
// first value in the order the variable sorts them.
func VariableValue(v Variable, values []string) string {
	vals := append([]string(nil), values...)
	sort.Strings(vals)
	if v.IncludeAll || v.Multi {
		if v.AllValue != "" {
			return v.AllValue
		}
		esc := make([]string, len(vals))
		for i, s := range vals {
			esc[i] = regexp.QuoteMeta(s)
		}
		if len(esc) == 1 {
			return esc[0]
		}
		return "(" + strings.Join(esc, "|") + ")"
	}
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

var varRE = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}|\[\[([a-zA-Z_][a-zA-Z0-9_]*)(?::[^\]]*)?\]\]|\$([a-zA-Z_][a-zA-Z0-9_]*)`)

// Interpolate replaces Grafana variables ($name, ${name}, ${name:format},
// [[name]]) in expr with their values. A variable missing from vars is an
// error, so a new variable in a dashboard cannot slip through untested.
func Interpolate(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for variable(s) %s in %q", strings.Join(missing, ", "), expr)
	}
	return out, nil
}
