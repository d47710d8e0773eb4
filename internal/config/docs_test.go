package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The documentation of the keys must say what the keys table (fields) says:
// the README's configuration table and config.example.toml name the same
// keys, in the same order, with the same environment variables, defaults
// and requirements as Keys().

const readmePath = "../../README.md"

// docKey is what a document says about one key.
type docKey struct {
	Name, Env, Default, Required string
}

func keysAsDocumented() []docKey {
	var out []docKey
	for _, k := range Keys() {
		out = append(out, docKey{k.Name, k.Env, k.Default, k.Required})
	}
	return out
}

// parseRequirement reads a default as the documents write it: "required",
// "required in webhook mode", "empty…" or a value (quoted or in backticks).
// It returns the default and the requirement as Key has them.
func parseRequirement(s string) (def, required string, ok bool) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "required in "+ModeWebhook+" mode"):
		return "", ModeWebhook, true
	case strings.HasPrefix(s, "required"):
		return "", "always", true
	case strings.HasPrefix(s, "empty"):
		return "", "", true
	}
	if m := regexp.MustCompile("^(?:`([^`]*)`|\"([^\"]*)\")").FindStringSubmatch(s); m != nil {
		return m[1] + m[2], "", true
	}
	return "", "", false
}

// readmeKeys parses the table of the README's "## Configuration" section.
func readmeKeys(t *testing.T, text string) []docKey {
	t.Helper()
	lines := strings.Split(text, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "## Configuration" {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	var rows [][]string
	for _, l := range lines[start+1:] {
		if strings.HasPrefix(l, "#") {
			break // next section
		}
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") {
			if len(rows) > 0 {
				break // the table ended
			}
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) < 3 {
		t.Fatalf("README.md: no configuration table found (%d rows)", len(rows))
	}
	if h := rows[0]; len(h) < 3 || h[0] != "key" || h[1] != "env" || h[2] != "default" {
		t.Fatalf("README.md: configuration table header %q, want key | env | default | ...", h)
	}
	tick := regexp.MustCompile("^`([^`]+)`")
	var out []docKey
	for _, r := range rows[2:] {
		if len(r) < 3 {
			t.Errorf("README.md: row %q has fewer than 3 cells", r)
			continue
		}
		var k docKey
		m := tick.FindStringSubmatch(r[0])
		if m == nil || m[0] != r[0] {
			t.Errorf("README.md: key cell %q: want one key in backticks", r[0])
			continue
		}
		k.Name = m[1]
		if r[1] != "—" {
			m := tick.FindStringSubmatch(r[1])
			if m == nil {
				t.Errorf("README.md: %s: env cell %q: want `VAR` or —", k.Name, r[1])
			} else {
				k.Env = m[1]
			}
		}
		var ok bool
		if k.Default, k.Required, ok = parseRequirement(r[2]); !ok {
			t.Errorf("README.md: %s: default cell %q: want `value`, empty…, required…", k.Name, r[2])
		}
		out = append(out, k)
	}
	return out
}

func TestReadmeTableMatchesKeys(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	compareDocs(t, "README.md", readmeKeys(t, string(data)))
}

// exampleKeys parses config.example.toml: each key (set, or commented out)
// follows a comment block with a line "Env: VAR. Default: ..." or
// "No env var. Default: ...".
func exampleKeys(t *testing.T, text string) []docKey {
	t.Helper()
	tableRE := regexp.MustCompile(`^\[([a-z_]+)\]\s*$`)
	keyRE := regexp.MustCompile(`^#?\s*([a-z_]+)\s*=`)
	docRE := regexp.MustCompile(`^#\s*(?:Env: ([A-Z0-9_]+)|No env var)\.\s+Default: (.+?)\.?\s*$`)
	var out []docKey
	table := ""
	var block []string // the comment lines since the last blank line or key
	for n, line := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			block = nil
		case tableRE.MatchString(line):
			table = tableRE.FindStringSubmatch(line)[1]
			block = nil
		case keyRE.MatchString(line):
			name := keyRE.FindStringSubmatch(line)[1]
			if table == "" {
				t.Errorf("config.example.toml:%d: key %s outside a table", n+1, name)
				break
			}
			k := docKey{Name: table + "." + name}
			found := 0
			for _, b := range block {
				if m := docRE.FindStringSubmatch(b); m != nil {
					found++
					k.Env = m[1]
					var ok bool
					if k.Default, k.Required, ok = parseRequirement(m[2]); !ok {
						t.Errorf("config.example.toml: %s: default %q: want \"value\", empty, required…", k.Name, m[2])
					}
				}
			}
			if found != 1 {
				t.Errorf("config.example.toml:%d: %s: want one line \"# Env: VAR. Default: ...\" or \"# No env var. Default: ...\" above it, found %d",
					n+1, k.Name, found)
			}
			out = append(out, k)
			block = nil
		case strings.HasPrefix(line, "#"):
			block = append(block, line)
		}
	}
	return out
}

func TestExampleMatchesKeys(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	compareDocs(t, "config.example.toml", exampleKeys(t, text))
	// Secrets are not set in the example.
	for _, secret := range []string{"app_secret", "verification_token", "encrypt_key", "redis_url"} {
		if regexp.MustCompile(`(?m)^\s*` + secret + `\s*=`).MatchString(text) {
			t.Errorf("config.example.toml sets %s; keep it commented out (set it via env)", secret)
		}
	}
}

// compareDocs reports every difference between what doc says and Keys().
func compareDocs(t *testing.T, doc string, got []docKey) {
	t.Helper()
	want := keysAsDocumented()
	byName := map[string]docKey{}
	var gotNames, wantNames []string
	for _, k := range got {
		if _, dup := byName[k.Name]; dup {
			t.Errorf("%s documents %s twice", doc, k.Name)
		}
		byName[k.Name] = k
		gotNames = append(gotNames, k.Name)
	}
	for _, w := range want {
		wantNames = append(wantNames, w.Name)
		g, ok := byName[w.Name]
		if !ok {
			t.Errorf("%s does not document %s", doc, w.Name)
			continue
		}
		if g != w {
			t.Errorf("%s says %s has env %q, default %q, required %q; the loader has env %q, default %q, required %q",
				doc, w.Name, g.Env, g.Default, g.Required, w.Env, w.Default, w.Required)
		}
		delete(byName, w.Name)
	}
	for name := range byName {
		t.Errorf("%s documents %s, which is not a key", doc, name)
	}
	if !t.Failed() && !reflect.DeepEqual(gotNames, wantNames) {
		t.Errorf("%s lists the keys in the order\n%q\nwant the contract's order\n%q", doc, gotNames, wantNames)
	}
}

// TestDocsSayAuditGoesToTheLog: with an empty audit.path the audit records
// are written to the log only (bot.OpenAuditLog); both documents say so.
func TestDocsSayAuditGoesToTheLog(t *testing.T) {
	for _, doc := range []string{readmePath, examplePath} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(string(data), "\n#", "\n")), " ")) // unwrap lines and comments
		if !strings.Contains(text, "audit records go to the log only") && !strings.Contains(text, "audit records are written to the log only") {
			t.Errorf("%s does not say that with an empty audit.path the audit records go to the log only", doc)
		}
		if strings.Contains(text, "no audit log") {
			t.Errorf(`%s says "no audit log"; the records still go to the log`, doc)
		}
	}
}
