package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"strings"
)

// Catalog sizes.
const (
	itemCount = 1000 // items have ids 1..itemCount
	pageSize  = 20   // items per list page and per search answer
)

// Words the catalog's item names are made of. Every noun names about a twentieth of the
// items, so it is also a search term that always finds something.
var (
	adjectives = [...]string{"Sturdy", "Compact", "Vintage", "Classic", "Modern", "Rustic", "Sleek", "Cozy", "Bright", "Quiet"}
	materials  = [...]string{"Oak", "Steel", "Linen", "Wool", "Ceramic", "Bamboo", "Glass", "Copper"}
	nouns      = [...]string{"lamp", "chair", "table", "kettle", "blanket", "mug", "shelf", "clock", "basket", "vase",
		"stool", "rug", "mirror", "planter", "bowl", "desk", "pillow", "tray", "candle", "bench"}
	categories = [...]string{"home", "kitchen", "garden", "office", "living"}
)

// item is one product of the demo shop.
type item struct {
	ID          int     `json:"id"`
	SKU         string  `json:"sku"`
	Name        string  `json:"name"`
	Category    string  `json:"category"`
	PriceCents  int     `json:"price_cents"`
	Stock       int     `json:"stock"`
	Rating      float64 `json:"rating"`
	Description string  `json:"description"`
}

// catalog is the shop's fixed content, built once from the seed and read-only after.
type catalog struct {
	items      []item   // items[i] has id i+1
	searchText []string // lower-case name and category, for search
	itemJSON   [][]byte // one item's JSON, by index
	pages      [][]byte // list pages 1..itemCount/pageSize, by index
	index      []byte   // the shop's home page
}

func newCatalog(seed uint64) *catalog {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed_ca7a_1095))
	c := &catalog{
		items:      make([]item, itemCount),
		searchText: make([]string, itemCount),
		itemJSON:   make([][]byte, itemCount),
	}
	for i := range c.items {
		noun := nouns[i%len(nouns)]
		name := fmt.Sprintf("%s %s %s", adjectives[rnd.IntN(len(adjectives))], materials[rnd.IntN(len(materials))],
			strings.ToUpper(noun[:1])+noun[1:])
		it := item{
			ID:         i + 1,
			SKU:        fmt.Sprintf("SKU-%06d", 100000+rnd.IntN(900000)),
			Name:       name,
			Category:   categories[rnd.IntN(len(categories))],
			PriceCents: 499 + rnd.IntN(20000),
			Stock:      rnd.IntN(250),
			Rating:     float64(30+rnd.IntN(21)) / 10,
			Description: fmt.Sprintf("A %s %s for everyday use, made to last. Ships in %d days.",
				strings.ToLower(name[:strings.IndexByte(name, ' ')]), noun, 1+rnd.IntN(9)),
		}
		c.items[i] = it
		c.searchText[i] = strings.ToLower(name + " " + it.Category)
		c.itemJSON[i] = mustJSON(it)
	}
	for p := 1; p <= itemCount/pageSize; p++ {
		ids := make([]int, 0, pageSize)
		for i := (p - 1) * pageSize; i < p*pageSize; i++ {
			ids = append(ids, i)
		}
		c.pages = append(c.pages, c.list(fmt.Sprintf(`"page":%d,"pages":%d,"total":%d`, p, itemCount/pageSize, itemCount), ids))
	}
	c.index = c.homePage()
	return c
}

// list writes {head,"items":[...]} from the items' JSON at the given indexes.
func (c *catalog) list(head string, idx []int) []byte {
	var b bytes.Buffer
	b.WriteString("{")
	b.WriteString(head)
	b.WriteString(`,"items":[`)
	for n, i := range idx {
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(c.itemJSON[i])
	}
	b.WriteString("]}")
	return b.Bytes()
}

// search returns the JSON answer for the term q, matched against the items' names
// and categories: at most pageSize matches, and how many there are in all.
func (c *catalog) search(q string) []byte {
	term := strings.ToLower(q)
	idx := make([]int, 0, pageSize)
	total := 0
	for i, text := range c.searchText {
		if strings.Contains(text, term) {
			total++
			if len(idx) < pageSize {
				idx = append(idx, i)
			}
		}
	}
	return c.list(fmt.Sprintf(`"query":%s,"total":%d`, mustJSON(q), total), idx)
}

func (c *catalog) homePage() []byte {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<title>Stampede Demo Shop</title>\n<link rel=\"stylesheet\" href=\"/static/shop.css\">\n</head>\n<body>\n" +
		"<header><h1>Stampede Demo Shop</h1><form action=\"/api/search\"><input name=\"q\" placeholder=\"Search\"></form></header>\n" +
		"<nav><ul>\n")
	for _, cat := range categories {
		fmt.Fprintf(&b, "<li><a href=\"/api/search?q=%s\">%s</a></li>\n", cat, strings.ToUpper(cat[:1])+cat[1:])
	}
	b.WriteString("</ul></nav>\n<main>\n<h2>Featured</h2>\n<ul class=\"featured\">\n")
	for _, it := range c.items[:pageSize] {
		fmt.Fprintf(&b, "<li><a href=\"/api/items/%d\">%s</a> $%d.%02d</li>\n",
			it.ID, html.EscapeString(it.Name), it.PriceCents/100, it.PriceCents%100)
	}
	b.WriteString("</ul>\n</main>\n<footer>A load-test target; every page is served with a realistic delay.</footer>\n</body>\n</html>\n")
	return []byte(b.String())
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("demo: encode %T: %v", v, err)) // only our own plain types are encoded
	}
	return b
}
