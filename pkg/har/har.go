package har

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// File is a HAR document: http://www.softwareishard.com/blog/har-12-spec/. Only the
// fields the conversion reads are declared; the others are ignored.
type File struct {
	Log Log `json:"log"`
}

// Log is a HAR file's log.
type Log struct {
	Pages   []Page  `json:"pages,omitempty"`
	Entries []Entry `json:"entries"`
}

// Page is a page visit; entries refer to it by ID.
type Page struct {
	ID              string    `json:"id"`
	Title           string    `json:"title"`
	StartedDateTime time.Time `json:"startedDateTime"`
}

// Entry is one request and its response.
type Entry struct {
	PageRef         string    `json:"pageref,omitempty"`
	StartedDateTime time.Time `json:"startedDateTime"`
	Time            float64   `json:"time"` // milliseconds from start to the end of the response
	Request         Request   `json:"request"`
	Response        Response  `json:"response"`
}

// End is when the entry's response ended.
func (e *Entry) End() time.Time {
	return e.StartedDateTime.Add(time.Duration(e.Time * float64(time.Millisecond)))
}

// Request is an entry's request.
type Request struct {
	Method      string      `json:"method"`
	URL         string      `json:"url"`
	Headers     []NameValue `json:"headers"`
	QueryString []NameValue `json:"queryString"`
	PostData    *PostData   `json:"postData,omitempty"`
}

// NameValue is a header, query parameter or form field.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// PostData is a request body.
type PostData struct {
	MimeType string      `json:"mimeType"`
	Text     string      `json:"text"`
	Params   []NameValue `json:"params,omitempty"`
}

// Response is an entry's response. Status 0 means none came (blocked, cancelled).
type Response struct {
	Status      int         `json:"status"`
	Headers     []NameValue `json:"headers"`
	Content     Content     `json:"content"`
	RedirectURL string      `json:"redirectURL"`
}

// Content is a response body; Encoding "base64" means Text is base64.
type Content struct {
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

// Body returns the response body as recorded (decoded from base64 when it was).
func (c Content) Body() string {
	if c.Encoding == "base64" {
		if b, err := base64.StdEncoding.DecodeString(c.Text); err == nil {
			return string(b)
		}
	}
	return c.Text
}

// MaxFileBytes caps what Read accepts.
const MaxFileBytes = 256 << 20

// Read decodes a HAR file.
func Read(r io.Reader) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read HAR: %w", err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("HAR file larger than %d MiB", MaxFileBytes>>20)
	}
	return Parse(data)
}

// Parse decodes a HAR document.
func Parse(data []byte) (*File, error) {
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a HAR file: %w", err)
	}
	if f.Log.Entries == nil {
		return nil, errors.New("not a HAR file: no log.entries")
	}
	return &f, nil
}

// header returns the first value of the named header (case-insensitive).
func header(hs []NameValue, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}
