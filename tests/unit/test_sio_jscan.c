/* tests/unit/test_sio_json.c — sio/json.c: grammar, depth, arrays, (un)escaping,
 * placeholders. */
#include "test.h"
#include "sio/jscan.h"

#include <stdint.h>

/* A case's text with an explicit length, so that NULs and raw bytes can be tested. */
#define T(lit) lit, sizeof(lit) - 1

static void test_valid_and_invalid(void) {
  static const struct {
    const char *in;
    size_t n;
    jscan_type type; /* JSCAN_INVALID: must be rejected */
  } cases[] = {
      /* literals and whitespace (RFC 8259 2: only space, tab, LF, CR) */
      {T("true"), JSCAN_TRUE},
      {T("false"), JSCAN_FALSE},
      {T("null"), JSCAN_NULL},
      {T(" \t\n\rnull \t\n\r"), JSCAN_NULL},
      {T("tru"), JSCAN_INVALID},
      {T("True"), JSCAN_INVALID},
      {T("nul"), JSCAN_INVALID},
      {T("truex"), JSCAN_INVALID},
      {T("\f1"), JSCAN_INVALID},
      {T("\xc2\xa0" "1"), JSCAN_INVALID},
      {T(""), JSCAN_INVALID},
      {T("   "), JSCAN_INVALID},
      {T("1 2"), JSCAN_INVALID},
      /* numbers (RFC 8259 6) */
      {T("0"), JSCAN_NUMBER},
      {T("-0"), JSCAN_NUMBER},
      {T("1e5"), JSCAN_NUMBER},
      {T("1.5E-3"), JSCAN_NUMBER},
      {T("-12.25e+10"), JSCAN_NUMBER},
      {T("123456789012345678901234567890"), JSCAN_NUMBER},
      {T("0.0"), JSCAN_NUMBER},
      {T("01"), JSCAN_INVALID},
      {T("-01"), JSCAN_INVALID},
      {T("1."), JSCAN_INVALID},
      {T(".5"), JSCAN_INVALID},
      {T("+1"), JSCAN_INVALID},
      {T("-"), JSCAN_INVALID},
      {T("--1"), JSCAN_INVALID},
      {T("1e"), JSCAN_INVALID},
      {T("1e+"), JSCAN_INVALID},
      {T("1.e5"), JSCAN_INVALID},
      {T("0x10"), JSCAN_INVALID},
      {T("NaN"), JSCAN_INVALID},
      {T("Infinity"), JSCAN_INVALID},
      {T("-Infinity"), JSCAN_INVALID},
      /* strings (RFC 8259 7, 8.1) */
      {T("\"\""), JSCAN_STRING},
      {T("\"abc\""), JSCAN_STRING},
      {T("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\""), JSCAN_STRING},
      {T("\"\\u00e9\\u00E9\""), JSCAN_STRING},
      {T("\"\\ud83d\\ude00\""), JSCAN_STRING},
      {T("\"\\ud800\""), JSCAN_STRING},       /* lone high surrogate: JSON.parse accepts */
      {T("\"\\udc00\""), JSCAN_STRING},       /* lone low surrogate */
      {T("\"\\ud800\\u0041\""), JSCAN_STRING}, /* high then non-surrogate */
      {T("\"\\u0000\""), JSCAN_STRING},
      {T("\"\xc3\xa9\""), JSCAN_STRING},              /* é */
      {T("\"\xe2\x82\xac\""), JSCAN_STRING},          /* € */
      {T("\"\xf0\x9f\x98\x80\""), JSCAN_STRING},      /* U+1F600 */
      {T("\"\xf4\x8f\xbf\xbf\""), JSCAN_STRING},      /* U+10FFFF */
      {T("\"\x7f\""), JSCAN_STRING},                  /* DEL needs no escape */
      {T("\"abc"), JSCAN_INVALID},
      {T("\""), JSCAN_INVALID},
      {T("'a'"), JSCAN_INVALID},
      {T("\"\\x41\""), JSCAN_INVALID},
      {T("\"\\'\""), JSCAN_INVALID},
      {T("\"\\u12\""), JSCAN_INVALID},
      {T("\"\\u12G4\""), JSCAN_INVALID},
      {T("\"\\U0041\""), JSCAN_INVALID},
      {T("\"\\"), JSCAN_INVALID},
      {T("\"\\u004"), JSCAN_INVALID},
      {T("\"a\x01" "b\""), JSCAN_INVALID},
      {T("\"a\tb\""), JSCAN_INVALID},
      {T("\"a\nb\""), JSCAN_INVALID},
      {T("\"a\0b\""), JSCAN_INVALID},
      {T("\"\xc0\x80\""), JSCAN_INVALID},          /* overlong NUL */
      {T("\"\xc1\xbf\""), JSCAN_INVALID},          /* overlong */
      {T("\"\xe0\x80\xaf\""), JSCAN_INVALID},      /* overlong '/' */
      {T("\"\xed\xa0\x80\""), JSCAN_INVALID},      /* raw surrogate */
      {T("\"\xf4\x90\x80\x80\""), JSCAN_INVALID},  /* > U+10FFFF */
      {T("\"\xf5\x80\x80\x80\""), JSCAN_INVALID},
      {T("\"\xe2\x82\""), JSCAN_INVALID},          /* truncated sequence */
      {T("\"\x80\""), JSCAN_INVALID},              /* lone continuation */
      {T("\"\xff\""), JSCAN_INVALID},
      /* structure */
      {T("[]"), JSCAN_ARRAY},
      {T("[ ]"), JSCAN_ARRAY},
      {T("{}"), JSCAN_OBJECT},
      {T("{ }"), JSCAN_OBJECT},
      {T("[1,\"a\",true,false,null,[],{},-0.5]"), JSCAN_ARRAY},
      {T(" { \"a\" : [ 1 , { \"b\" : null } ] , \"c\" : \"d\" } "), JSCAN_OBJECT},
      {T("{\"a\":1,\"a\":2}"), JSCAN_OBJECT},
      {T("[1,]"), JSCAN_INVALID},
      {T("[,1]"), JSCAN_INVALID},
      {T("[1 2]"), JSCAN_INVALID},
      {T("{\"a\":1,}"), JSCAN_INVALID},
      {T("{\"a\" 1}"), JSCAN_INVALID},
      {T("{\"a\":}"), JSCAN_INVALID},
      {T("{1:2}"), JSCAN_INVALID},
      {T("{a:1}"), JSCAN_INVALID},
      {T("{,}"), JSCAN_INVALID},
      {T("["), JSCAN_INVALID},
      {T("]"), JSCAN_INVALID},
      {T("[1]]"), JSCAN_INVALID},
      {T("[1}"), JSCAN_INVALID},
      {T("{\"a\":1]"), JSCAN_INVALID},
      {T("[\"a\":1]"), JSCAN_INVALID},
      {T("{\"a\":1 \"b\":2}"), JSCAN_INVALID},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].in;
    jscan_type t = JSCAN_OBJECT;
    int ok = jscan_valid(cases[i].in, cases[i].n, &t);
    CHECK_EQ_INT(ok, cases[i].type != JSCAN_INVALID);
    CHECK_EQ_INT(t, cases[i].type);
  }
}

/* jscan_scan stops at the end of the value, leading whitespace included in the count. */
static void test_scan_end(void) {
  static const struct {
    const char *in;
    size_t end;
    jscan_type type;
  } cases[] = {
      {"  [1] x", 5, JSCAN_ARRAY}, {"\"a\",2", 3, JSCAN_STRING}, {"12]", 2, JSCAN_NUMBER},
      {"truefalse", 4, JSCAN_TRUE}, {"{}}", 2, JSCAN_OBJECT},    {"[1,]", 0, JSCAN_INVALID},
      {"01", 1, JSCAN_NUMBER},     {" ", 0, JSCAN_INVALID},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].in;
    jscan_type t;
    CHECK_EQ_INT(jscan_scan(cases[i].in, strlen(cases[i].in), &t), cases[i].end);
    CHECK_EQ_INT(t, cases[i].type);
  }
}

/* JSCAN_MAX_DEPTH levels are accepted, one more is not, for arrays and objects. */
static void test_depth_limit(void) {
  char buf[8 * (JSCAN_MAX_DEPTH + 2)];
  for (int extra = 0; extra <= 1; extra++) {
    int levels = JSCAN_MAX_DEPTH + extra;
    size_t n = 0;
    for (int k = 0; k < levels; k++) buf[n++] = '[';
    for (int k = 0; k < levels; k++) buf[n++] = ']';
    jscan_type t;
    test_current = extra ? "arrays 65" : "arrays 64";
    CHECK_EQ_INT(jscan_valid(buf, n, &t), !extra);
    n = 0;
    for (int k = 0; k < levels; k++) {
      memcpy(buf + n, "{\"a\":", 5);
      n += 5;
    }
    buf[n++] = '1';
    for (int k = 0; k < levels; k++) buf[n++] = '}';
    test_current = extra ? "objects 65" : "objects 64";
    CHECK_EQ_INT(jscan_valid(buf, n, &t), !extra);
  }
  /* Deep nesting far past the limit costs no stack. */
  static char deep[100000];
  memset(deep, '[', sizeof deep);
  jscan_type t;
  test_current = "100000 brackets";
  CHECK_EQ_INT(jscan_valid(deep, sizeof deep, &t), 0);
}

static void test_array_next(void) {
  const char *a = " [ 1 , \"a\" , [2,3] , {\"x\":null} ] ";
  static const struct {
    const char *text;
    jscan_type type;
  } want[] = {{"1", JSCAN_NUMBER}, {"\"a\"", JSCAN_STRING}, {"[2,3]", JSCAN_ARRAY},
              {"{\"x\":null}", JSCAN_OBJECT}};
  size_t off = 0;
  const char *el;
  size_t len;
  jscan_type t;
  for (size_t k = 0; k < 4; k++) {
    CHECK_EQ_INT(jscan_array_next(a, strlen(a), &off, &el, &len, &t), 1);
    CHECK_EQ_INT(len, strlen(want[k].text));
    CHECK_MEM(el, want[k].text, len);
    CHECK_EQ_INT(t, want[k].type);
  }
  CHECK_EQ_INT(jscan_array_next(a, strlen(a), &off, &el, &len, &t), 0);

  static const struct {
    const char *in;
    int first, second;
  } edge[] = {{"[]", 0, 0}, {"[ ]", 0, 0}, {"[1,]", 1, -1}, {"{}", -1, -1}, {"", -1, -1},
              {"[", -1, -1}, {"[1", 1, -1}, {"[1 2]", 1, -1}, {"[01]", 1, -1}};
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
    test_current = edge[i].in;
    off = 0;
    size_t n = strlen(edge[i].in);
    int r = jscan_array_next(edge[i].in, n, &off, &el, &len, &t);
    CHECK_EQ_INT(r, edge[i].first);
    if (r == 1) CHECK_EQ_INT(jscan_array_next(edge[i].in, n, &off, &el, &len, &t), edge[i].second);
  }
}

/* The one-pass validation reports an array's first element when it is a scalar. */
static void test_valid_first(void) {
  static const struct {
    const char *in;
    int valid;
    jscan_type type;
    const char *first; /* NULL: none */
  } cases[] = {
      {"[\"echo\",\"x\"]", 1, JSCAN_ARRAY, "\"echo\""},
      {" [ 12 , [3]] ", 1, JSCAN_ARRAY, "12"},
      {"[-1.5e3]", 1, JSCAN_ARRAY, "-1.5e3"},
      {"[null,1]", 1, JSCAN_ARRAY, "null"},
      {"[[1],2]", 1, JSCAN_ARRAY, NULL},
      {"[{\"a\":1},\"b\"]", 1, JSCAN_ARRAY, NULL},
      {"[]", 1, JSCAN_ARRAY, NULL},
      {"{\"k\":\"v\",\"w\":2}", 1, JSCAN_OBJECT, NULL},
      {"\"s\"", 1, JSCAN_STRING, NULL},
      {"[\"a\",]", 0, JSCAN_INVALID, NULL},
      {"[\"a\"", 0, JSCAN_INVALID, NULL},
      {"[", 0, JSCAN_INVALID, NULL},
      {"", 0, JSCAN_INVALID, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].in;
    const char *first = "unset";
    size_t len = 99;
    jscan_type t, ft;
    CHECK_EQ_INT(jscan_valid_first(cases[i].in, strlen(cases[i].in), &t, &first, &len, &ft), cases[i].valid);
    CHECK_EQ_INT(t, cases[i].type);
    if (!cases[i].valid) continue;
    if (!cases[i].first) {
      CHECK(first == NULL);
      CHECK_EQ_INT(len, 0);
      CHECK_EQ_INT(ft, JSCAN_INVALID);
      continue;
    }
    CHECK_EQ_INT(len, strlen(cases[i].first));
    CHECK_MEM(first, cases[i].first, len);
    jscan_type want;
    CHECK(jscan_valid(first, len, &want));
    CHECK_EQ_INT(ft, want);
  }
}

static void test_string_plain(void) {
  const char *s = NULL;
  size_t n = 0;
  test_current = "plain";
  CHECK_EQ_INT(jscan_string_plain("\"echo\"", 6, &s, &n), 1);
  CHECK_EQ_INT(n, 4);
  CHECK_MEM(s, "echo", 4);
  CHECK_EQ_INT(jscan_string_plain("\"\"", 2, &s, &n), 1);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(jscan_string_plain("\"\xc3\xa9\"", 4, &s, &n), 1);
  CHECK_EQ_INT(n, 2);
  test_current = "escaped";
  CHECK_EQ_INT(jscan_string_plain("\"\\u0063onnect\"", 13, &s, &n), 0);
  CHECK_EQ_INT(jscan_string_plain("\"a\\\"\"", 5, &s, &n), 0);
  test_current = "not a string";
  CHECK_EQ_INT(jscan_string_plain("12", 2, &s, &n), 0);
  CHECK_EQ_INT(jscan_string_plain("\"", 1, &s, &n), 0);
}

static void test_unescape(void) {
  static const struct {
    const char *tok;
    size_t n;
    const char *out;
    long len;
  } cases[] = {
      {T("\"\""), "", 0},
      {T("\"hello\""), "hello", 5},
      {T("\"a\\nb\\tc\""), "a\nb\tc", 5},
      {T("\"\\\"\\\\\\/\\b\\f\\r\""), "\"\\/\b\f\r", 6},
      {T("\"\\u0041\\u00e9\\u20AC\""), "A\xc3\xa9\xe2\x82\xac", 6},
      {T("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80", 4},
      {T("\"\\ud800\""), "\xef\xbf\xbd", 3},
      {T("\"\\udc00x\""), "\xef\xbf\xbdx", 4},
      {T("\"\\ud800\\ud800\\udc00\""), "\xef\xbf\xbd\xf0\x90\x80\x80", 7},
      {T("\"\\u0000\""), "\0", 1},
      {T("\"\xc3\xa9t\xc3\xa9\""), "\xc3\xa9t\xc3\xa9", 5},
      {T("\"\\u0063onnect\""), "connect", 7},
      {T("abc"), NULL, -1},
      {T("\"abc"), NULL, -1},
      {T("\"abc\"x"), NULL, -1},
      {T("\"a\\q\""), NULL, -1},
      {T("\"\x01\""), NULL, -1},
      {T(""), NULL, -1},
      {T(" \"a\""), NULL, -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].tok;
    char out[32];
    memset(out, 'Z', sizeof out);
    long r = jscan_string_unescape(cases[i].tok, cases[i].n, out, sizeof out);
    CHECK_EQ_INT(r, cases[i].len);
    if (r < 0) continue;
    CHECK_MEM(out, cases[i].out, (size_t)r);
    CHECK_EQ_INT(out[r], '\0');
  }
  /* Truncation: the full length is returned and the prefix is NUL-terminated. */
  test_current = "truncated";
  char small[4];
  CHECK_EQ_INT(jscan_string_unescape("\"hello\"", 7, small, sizeof small), 5);
  CHECK_STR(small, "hel");
  CHECK_EQ_INT(jscan_string_unescape("\"\\u20ac\"", 8, small, 2), 3);
  CHECK_EQ_INT(small[1], '\0');
  CHECK_EQ_INT(jscan_string_unescape("\"hi\"", 4, NULL, 0), 2);
}

static void test_escape(void) {
  static const struct {
    const char *in;
    size_t n;
    const char *tok;
  } cases[] = {
      {T(""), "\"\""},
      {T("plain"), "\"plain\""},
      {T("a\"b\\c"), "\"a\\\"b\\\\c\""},
      {T("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\""},
      {T("\x01\x1f\0"), "\"\\u0001\\u001f\\u0000\""},
      {T("/\x7f\xc3\xa9"), "\"/\x7f\xc3\xa9\""},
      /* eight bytes at a time: a special in the first word, in a later one, in the tail */
      {T("longer than eight bytes"), "\"longer than eight bytes\""},
      {T("1234\"678abcdefgh"), "\"1234\\\"678abcdefgh\""},
      {T("12345678abcdefg\\i"), "\"12345678abcdefg\\\\i\""},
      {T("12345678abcdefghi\n"), "\"12345678abcdefghi\\n\""},
      {T("12345678\xc3\xa9\x01"), "\"12345678\xc3\xa9\\u0001\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].tok;
    char out[64];
    size_t want = strlen(cases[i].tok);
    CHECK_EQ_INT(jscan_string_escape(out, sizeof out, cases[i].in, cases[i].n), want);
    CHECK_MEM(out, cases[i].tok, want);
    /* Truncated output is the same prefix, and the needed length is still returned. */
    char small[4] = {0};
    CHECK_EQ_INT(jscan_string_escape(small, sizeof small, cases[i].in, cases[i].n), want);
    CHECK_MEM(small, cases[i].tok, want < 4 ? want : 4);
  }
}

/* The reference: JSON.stringify's escapes, byte by byte. */
static size_t escape_ref(char *out, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  out[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    uint8_t c = (uint8_t)s[i];
    const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : NULL;
    if (e) {
      memcpy(out + o, e, 2);
      o += 2;
    } else if (c < 0x20 && c != '\b' && c != '\f' && c != '\r' && c != '\t') {
      memcpy(out + o, "\\u00", 4);
      out[o + 4] = hex[c >> 4];
      out[o + 5] = hex[c & 15];
      o += 6;
    } else if (c < 0x20) {
      out[o++] = '\\';
      out[o++] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\r' ? 'r' : 't';
    } else {
      out[o++] = (char)c;
    }
  }
  out[o++] = '"';
  return o;
}

/* A string with nothing to escape is tested whole words at a time, the last one
 * overlapping (escape_free): a byte to escape at every position of every length around
 * the word size, alone and with a second one, is still escaped; plain bytes on either
 * side of the range (0x20, 0x7f, UTF-8) are not. */
static void test_escape_words(void) {
  static const char specials[] = {'"', '\\', 0x00, 0x1f, '\n', '\t'};
  static const char plains[] = {' ', 0x7f, (char)0xc3, '!', '#', '[', ']'};
  char in[32], want[256], got[256];
  for (size_t len = 0; len <= 24; len++) {
    for (size_t k = 0; k < sizeof plains; k++) {
      for (size_t i = 0; i < len; i++) in[i] = (char)('a' + i % 26);
      if (len) in[len / 2] = plains[k];
      size_t w = escape_ref(want, in, len);
      test_current = "plain";
      CHECK_EQ_INT(jscan_string_escape(got, sizeof got, in, len), w);
      CHECK_MEM(got, want, w);
    }
    for (size_t pos = 0; pos < len; pos++) {
      for (size_t k = 0; k < sizeof specials; k++) {
        for (size_t second = 0; second <= len; second++) {
          for (size_t i = 0; i < len; i++) in[i] = (char)('a' + i % 26);
          in[pos] = specials[k];
          if (second < len) in[second] = specials[(k + 1) % sizeof specials];
          size_t w = escape_ref(want, in, len);
          test_current = "special";
          CHECK_EQ_INT(jscan_string_escape(got, sizeof got, in, len), w);
          CHECK_MEM(got, want, w);
        }
      }
    }
  }
}

/* escape then unescape gives back every ASCII byte string, and the token is valid JSON. */
static void test_escape_roundtrip(void) {
  char s[128], tok[1024], back[256];
  for (int i = 0; i < 128; i++) s[i] = (char)i;
  size_t n = jscan_string_escape(tok, sizeof tok, s, sizeof s);
  CHECK(n < sizeof tok);
  jscan_type t;
  CHECK(jscan_valid(tok, n, &t));
  CHECK_EQ_INT(t, JSCAN_STRING);
  CHECK_EQ_INT(jscan_string_unescape(tok, n, back, sizeof back), 128);
  CHECK_MEM(back, s, 128);
  const char *utf = "\xe2\x82\xac \xf0\x9f\x98\x80 \"q\"\n";
  n = jscan_string_escape(tok, sizeof tok, utf, strlen(utf));
  CHECK_EQ_INT(jscan_string_unescape(tok, n, back, sizeof back), strlen(utf));
  CHECK_MEM(back, utf, strlen(utf));
}

static void test_placeholders(void) {
  static const struct {
    const char *in;
    size_t nbins;
    long want;
  } cases[] = {
      {"[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", 2, 2},
      {"[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", 1, -1},
      {"[\"bar\",{\"_placeholder\":true,\"num\":0}]", 1, 1},
      {"{\"_placeholder\":true,\"num\":0}", 1, 1},
      {"[\"a\",{\"x\":[{\"_placeholder\":true,\"num\":2}]}]", 3, 1},
      {" [ { \"_placeholder\" : true , \"num\" : 0 } ] ", 1, 1},
      {"[{\"num\":0,\"_placeholder\":true}]", 1, 1},
      {"[{\"\\u005fplaceholder\":true,\"num\":0}]", 1, 1},
      {"[{\"_placeholder\":true,\"num\":0,\"extra\":1}]", 1, 1},
      {"[{\"_placeholder\":false,\"num\":9}]", 1, 0},
      {"[{\"_placeholder\":\"true\",\"num\":9}]", 1, 0},
      {"[{\"_placeholder\":true,\"_placeholder\":false,\"num\":0}]", 1, 0},
      {"[{\"_placeholder\":true}]", 1, -1},
      {"[{\"_placeholder\":true,\"num\":\"0\"}]", 1, -1},
      {"[{\"_placeholder\":true,\"num\":-1}]", 1, -1},
      {"[{\"_placeholder\":true,\"num\":0.5}]", 1, -1},
      {"[{\"_placeholder\":true,\"num\":[0]}]", 1, -1},
      {"[{\"_placeholder\":true,\"num\":99999999999999999999999}]", 1, -1},
      {"[{\"_placeholder\":true,\"num\":0}]", 0, -1},
      /* Node replaces a placeholder object whole: what is inside it is not looked at. */
      {"[{\"_placeholder\":true,\"num\":0,\"x\":{\"_placeholder\":true,\"num\":7}}]", 1, 1},
      {"[{\"x\":{\"_placeholder\":true,\"num\":7},\"_placeholder\":true,\"num\":0}]", 1, 1},
      {"[\"_placeholder\",true,\"num\",0]", 1, 0},
      {"[]", 0, 0},
      {"[{\"_placeholder\":true,\"num\":0},]", 1, -1},
      {"[{\"_placeholder\":true,\"num\":0}", 1, -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].in;
    CHECK_EQ_INT(jscan_count_placeholders(cases[i].in, strlen(cases[i].in), cases[i].nbins),
                 cases[i].want);
  }
}

/* String scans skip plain bytes sixteen (SSE2) or eight at a time, the last sixteen as
 * one load of the buffer's end: a quote, a backslash, a control character or a
 * non-ASCII byte at every position of strings of every length around those sizes must
 * still be seen, behind 0 to 17 bytes of leading whitespace (every place of the string
 * against the buffer's end) and with a second one in the same word. */
static void test_string_words(void) {
  static const struct {
    const char *ins;
    size_t n;
    int ok;
  } specials[] = {{"\\\"", 2, 1}, {"\\n", 2, 1}, {"\\u00e9", 6, 1}, {"\xc3\xa9", 2, 1}, {"\x01", 1, 0},
                  {"\x1f", 1, 0},   {"\x7f", 1, 1}, {"\xff", 1, 0},       {"\\", 1, 0},       {"\"", 1, 0},
                  {" ", 1, 1},       {"\xe2\x82", 2, 0}};
  char buf[96];
  jscan_type t;
  int bad = 0;
  for (size_t pad = 0; pad <= 17; pad++) {
    for (size_t len = 0; len <= 40; len++) {
      for (size_t pos = 0; pos <= len; pos++) {
        for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
          size_t n = 0;
          for (size_t j = 0; j < pad; j++) buf[n++] = ' ';
          buf[n++] = '"';
          for (size_t j = 0; j < pos; j++) buf[n++] = (char)('a' + j % 26);
          memcpy(buf + n, specials[k].ins, specials[k].n);
          n += specials[k].n;
          for (size_t j = pos; j < len; j++) buf[n++] = (char)('A' + j % 26);
          buf[n++] = '"';
          int ok = jscan_valid(buf, n, &t);
          /* A lone quote ends the string early: what follows is trailing garbage. */
          if (ok != specials[k].ok || (ok && t != JSCAN_STRING)) {
            if (!bad) fprintf(stderr, "pad %zu len %zu pos %zu special %zu\n", pad, len, pos, k);
            bad++;
          }
          /* Unescaping walks the same string with a sink: same verdict. */
          char out[96];
          long u = jscan_string_unescape(buf + pad, n - pad, out, sizeof out);
          if ((u >= 0) != specials[k].ok) bad++;
        }
      }
    }
  }
  CHECK_EQ_INT(bad, 0);
}

int main(void) {
  RUN(test_valid_and_invalid);
  RUN(test_string_words);
  RUN(test_scan_end);
  RUN(test_depth_limit);
  RUN(test_array_next);
  RUN(test_valid_first);
  RUN(test_string_plain);
  RUN(test_unescape);
  RUN(test_escape);
  RUN(test_escape_words);
  RUN(test_escape_roundtrip);
  RUN(test_placeholders);
  return test_report();
}
