package report

import (
	"encoding/json"
	"html/template"
	"io"
)

// HTMLAssets are what the HTML report inlines, each in load order: the style
// sheets and the scripts (the chart library, then the dashboard's shared scripts
// and the report's own). Package web owns them (web.ReportAssets).
type HTMLAssets struct {
	Styles  []string
	Scripts []string
}

var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stampede run {{.ID}}</title>
{{range .Styles}}<style>{{.}}</style>
{{end}}</head><body class="report">
<div id="report"></div>
<script type="application/json" id="report-data">{{.Data}}</script>
{{range .Scripts}}<script>{{.}}</script>
{{end}}
</body></html>
`))

// WriteHTML writes the self-contained HTML report of a run: every asset inlined,
// the data embedded, nothing fetched when it is opened.
func WriteHTML(w io.Writer, v *RunView, a HTMLAssets) error {
	data, err := json.Marshal(v) // escapes <, > and & so it cannot end the script element
	if err != nil {
		return err
	}
	styles := make([]template.CSS, len(a.Styles))
	for i, s := range a.Styles {
		styles[i] = template.CSS(s)
	}
	scripts := make([]template.JS, len(a.Scripts))
	for i, s := range a.Scripts {
		scripts[i] = template.JS(s)
	}
	return reportPage.Execute(w, map[string]any{
		"ID":      v.Run.ID,
		"Data":    template.JS(data),
		"Styles":  styles,
		"Scripts": scripts,
	})
}
