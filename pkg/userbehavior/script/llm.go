package script

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// llmValue is u.llm: an OpenAI-compatible client on the run's host, with chat and
// completion as methods. Like u.http, one value serves every user.
type llmValue struct{}

var userLLM = &llmValue{}

var llmMethods = map[string]*starlark.Builtin{
	"chat":       starlark.NewBuiltin("chat", llmCall).BindReceiver(userLLM),
	"completion": starlark.NewBuiltin("completion", llmCall).BindReceiver(userLLM),
}

func (*llmValue) String() string        { return "<llm>" }
func (*llmValue) Type() string          { return "llm" }
func (*llmValue) Freeze()               {}
func (*llmValue) Truth() starlark.Bool  { return true }
func (*llmValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: llm") }
func (*llmValue) AttrNames() []string   { return []string{"chat", "completion"} }
func (*llmValue) Attr(name string) (starlark.Value, error) {
	if b, ok := llmMethods[name]; ok {
		return b, nil
	}
	return nil, nil
}

// llmCall implements u.llm.chat(messages, ...) and u.llm.completion(prompt, ...).
func llmCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := "llm." + b.Name()
	chat := b.Name() == "chat"
	_, s := running(thread)
	if s == nil {
		return nil, fmt.Errorf("%s: requests may only be made while a user runs a task", fn)
	}
	var input, model, maxTokens, extra, name, timeout, path, headers, slo, expect starlark.Value
	stream := true
	first := "prompt"
	if chat {
		first = "messages"
	}
	if err := starlark.UnpackArgs(fn, args, kwargs, first, &input, "model?", &model, "max_tokens?", &maxTokens,
		"stream?", &stream, "extra?", &extra, "name?", &name, "timeout?", &timeout, "path?", &path,
		"headers?", &headers, "slo?", &slo, "expect?", &expect); err != nil {
		return nil, err
	}
	body := starlark.NewDict(8)
	if model != nil && model != starlark.None {
		body.SetKey(starlark.String("model"), model)
	}
	if chat {
		if _, ok := input.(*starlark.List); !ok {
			if _, ok := input.(starlark.Tuple); !ok {
				return nil, fmt.Errorf("%s: messages: want a list of {\"role\": ..., \"content\": ...}, got %s", fn, input.Type())
			}
		}
		body.SetKey(starlark.String("messages"), input)
	} else {
		if _, ok := input.(starlark.String); !ok {
			return nil, fmt.Errorf("%s: prompt: want a string, got %s", fn, input.Type())
		}
		body.SetKey(starlark.String("prompt"), input)
	}
	if maxTokens != nil && maxTokens != starlark.None {
		body.SetKey(starlark.String("max_tokens"), maxTokens)
	}
	body.SetKey(starlark.String("stream"), starlark.Bool(stream))
	if stream {
		opts := starlark.NewDict(1)
		opts.SetKey(starlark.String("include_usage"), starlark.True)
		body.SetKey(starlark.String("stream_options"), opts)
	}
	if extra != nil && extra != starlark.None {
		d, ok := extra.(*starlark.Dict)
		if !ok {
			return nil, fmt.Errorf("%s: extra: want a dict, got %s", fn, extra.Type())
		}
		for _, kv := range d.Items() {
			body.SetKey(kv[0], kv[1]) // extra wins: stream_options, temperature, ...
		}
	}
	a := requestArgs{method: "POST", redirects: true, jsonBody: body, headers: headers, timeout: timeout, expect: expect}
	a.url = "/v1/completions"
	if chat {
		a.url = "/v1/chat/completions"
	}
	if path != nil && path != starlark.None {
		p, ok := starlark.AsString(path)
		if !ok {
			return nil, fmt.Errorf("%s: path: want a string, got %s", fn, path.Type())
		}
		a.url = p
	}
	if name != nil && name != starlark.None {
		n, ok := starlark.AsString(name)
		if !ok {
			return nil, fmt.Errorf("%s: name: want a string, got %s", fn, name.Type())
		}
		a.name = n
	}
	gr := &userbehavior.GenerateRequest{Stream: stream, Chat: chat}
	if err := buildRequest(thread, &a, &gr.Request); err != nil {
		return nil, fmt.Errorf("%s: %v", fn, err)
	}
	if slo != nil && slo != starlark.None {
		o, err := parseSLO(slo)
		if err != nil {
			return nil, fmt.Errorf("%s: slo: %v", fn, err)
		}
		gr.SLO = o
	}
	s.commit()
	g := s.u.HTTP.Generate(s.ctx, gr)
	r := &generationValue{responseValue: responseValue{r: g.Response}, g: g}
	s.pending = &r.responseValue
	return r, nil
}

// parseSLO reads slo={"ttft": "500ms", "itl": "50ms", "itl.p99": "60ms", "e2e": "10s",
// "tps": 20}: latencies as "500ms"-style strings, seconds or time.duration; tps a
// number (output tokens per second of the request at least).
func parseSLO(v starlark.Value) (*userbehavior.SLO, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("want a dict such as {\"ttft\": \"500ms\", \"itl.p99\": \"60ms\"}, got %s", v.Type())
	}
	o := &userbehavior.SLO{}
	for _, kv := range d.Items() {
		k, ok := starlark.AsString(kv[0])
		if !ok {
			return nil, fmt.Errorf("keys are strings, got %s", kv[0].Type())
		}
		if k == "tps" {
			f, ok := starlark.AsFloat(kv[1])
			if !ok || f <= 0 {
				return nil, fmt.Errorf("tps: want a positive number, got %s", kv[1])
			}
			o.MinTPS = f
			continue
		}
		dur, err := sloDuration(kv[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", k, err)
		}
		switch {
		case k == "ttft":
			o.TTFT = dur
		case k == "e2e":
			o.E2E = dur
		case k == "itl":
			o.ITL, o.ITLQ = dur, 0
		case strings.HasPrefix(k, "itl.p"):
			q, err := strconv.ParseFloat(k[len("itl.p"):], 64)
			if err != nil || q <= 0 || q > 100 {
				return nil, fmt.Errorf("%s: want itl.pNN with 0 < NN <= 100", k)
			}
			o.ITL, o.ITLQ = dur, q/100
		default:
			return nil, fmt.Errorf("unknown objective %q (want ttft, itl, itl.pNN, e2e or tps)", k)
		}
	}
	return o, nil
}

func sloDuration(v starlark.Value) (time.Duration, error) {
	if s, ok := starlark.AsString(v); ok {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("want a positive duration such as \"500ms\", got %q", s)
		}
		return d, nil
	}
	d, err := toDuration(v)
	if err == nil && d <= 0 {
		err = fmt.Errorf("want a positive duration, got %s", v)
	}
	return d, err
}

// generationValue is what u.llm.chat and completion return: the response (status,
// ok, fail(), succeed(), elapsed ...) with the answer's text and token figures.
type generationValue struct {
	responseValue
	g *userbehavior.Generation
}

var generationAttrs = append([]string{"counted", "finish_reason", "met_slo", "tokens_in", "tokens_out", "tps", "ttft"}, responseAttrs...)

func (v *generationValue) String() string {
	return fmt.Sprintf("<generation %d, %d tokens>", v.g.Status, v.g.TokensOut)
}
func (v *generationValue) Type() string        { return "generation" }
func (v *generationValue) AttrNames() []string { return generationAttrs }

func (v *generationValue) Attr(name string) (starlark.Value, error) {
	g := v.g
	switch name {
	case "text":
		return starlark.String(g.Text), nil
	case "tokens_in":
		return starlark.MakeInt(g.TokensIn), nil
	case "tokens_out":
		return starlark.MakeInt(g.TokensOut), nil
	case "ttft":
		if g.TTFT == 0 {
			return starlark.None, nil
		}
		return starlark.Float(g.TTFT.Seconds()), nil
	case "tps":
		return starlark.Float(g.OutputTPS()), nil
	case "finish_reason":
		return starlark.String(g.FinishReason), nil
	case "counted":
		return starlark.String(g.Counted), nil
	case "met_slo":
		return starlark.Bool(g.MetSLO), nil
	}
	r := &v.responseValue
	if b, ok := responseMethods[name]; ok {
		return b.BindReceiver(r), nil
	}
	return r.Attr(name)
}
