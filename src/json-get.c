/* Typed reads of untrusted JSON, each failure naming the value's path (json-get.h). */
#include "json-get.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int jerr(const struct jval *o, const char *key, struct herr *e, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (key)
		return herr_set(e, 0, "%s: %s%s%s: %s", o->file, o->path, o->path[0] ? "." : "",
				key, what);
	return herr_set(e, 0, "%s: %s%s%s", o->file, o->path, o->path[0] ? ": " : "", what);
}

/* A too long path is cut: it only names the place in a message. */
__attribute__((format(printf, 2, 3))) static void place(struct jval *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->path, sizeof(out->path), fmt, ap);
	va_end(ap);
}

/* A member's place: "PATH.key". */
static void child(const struct jval *o, const char *key, json_object *v, struct jval *out)
{
	out->v = v;
	out->file = o->file;
	place(out, "%s%s%s", o->path, o->path[0] ? "." : "", key);
}

static void element(const struct jval *a, size_t i, struct jval *out)
{
	out->v = json_object_array_get_idx(a->v, i);
	out->file = a->file;
	place(out, "%s[%zu]", a->path, i);
}

int jroot(json_object *doc, const char *file, const char *path, struct jval *out, struct herr *e)
{
	out->v = doc;
	out->file = file;
	place(out, "%s", path);
	if (!json_object_is_type(doc, json_type_object))
		return jerr(out, NULL, e, "not a JSON object");
	return 0;
}

int jany(const struct jval *o, const char *key, struct jval *out)
{
	json_object *v = NULL;

	/* o is an object (checked by whoever returned it) or absent */
	if (o->v)
		json_object_object_get_ex(o->v, key, &v);
	child(o, key, v, out);
	return v != NULL;
}

/* The value at `at` (present) has type t. */
static int typed(const struct jval *at, enum json_type t, struct herr *e)
{
	static const char *const names[] = {
	    [json_type_null] = "null",	      [json_type_boolean] = "true or false",
	    [json_type_double] = "a number",  [json_type_int] = "an integer",
	    [json_type_object] = "an object", [json_type_array] = "an array",
	    [json_type_string] = "a string",
	};

	if (json_object_is_type(at->v, t))
		return 0;
	return jerr(at, NULL, e, "not %s", names[t]);
}

static int member(const struct jval *o, const char *key, enum json_type t, struct jval *out,
		  struct herr *e)
{
	if (!jany(o, key, out))
		return 0;
	return typed(out, t, e) < 0 ? -1 : 1;
}

int jobj(const struct jval *o, const char *key, struct jval *out, struct herr *e)
{
	return member(o, key, json_type_object, out, e);
}

int jarr(const struct jval *o, const char *key, struct jval *out, struct herr *e)
{
	return member(o, key, json_type_array, out, e);
}

/* A string value; NUL bytes refused: C would read "/etc\u0000/x" as "/etc". */
static int string_value(const struct jval *at, const char **out, struct herr *e)
{
	if (typed(at, json_type_string, e) < 0)
		return -1;
	*out = json_object_get_string(at->v);
	if (strlen(*out) != (size_t)json_object_get_string_len(at->v))
		return jerr(at, NULL, e, "contains a NUL byte");
	return 1;
}

int jstr(const struct jval *o, const char *key, const char **out, struct herr *e)
{
	struct jval v;

	*out = NULL;
	if (!jany(o, key, &v))
		return 0;
	return string_value(&v, out, e);
}

int jbool(const struct jval *o, const char *key, bool *out, struct herr *e)
{
	struct jval v;
	int r = member(o, key, json_type_boolean, &v, e);

	if (r > 0)
		*out = json_object_get_boolean(v.v);
	return r;
}

static int int_value(const struct jval *at, int64_t min, int64_t max, int64_t *out, struct herr *e)
{
	int64_t n;

	if (typed(at, json_type_int, e) < 0)
		return -1;
	n = json_object_get_int64(at->v); /* one above INT64_MAX reads as INT64_MAX: too big */
	if (n < min || n > max || (n == INT64_MAX && json_object_get_uint64(at->v) != INT64_MAX))
		return jerr(at, NULL, e, "not an integer from %" PRId64 " to %" PRId64, min, max);
	*out = n;
	return 1;
}

int jint(const struct jval *o, const char *key, int64_t min, int64_t max, int64_t *out,
	 struct herr *e)
{
	struct jval v;

	if (!jany(o, key, &v))
		return 0;
	return int_value(&v, min, max, out, e);
}

int ju64(const struct jval *o, const char *key, uint64_t *out, struct herr *e)
{
	struct jval v;

	if (!jany(o, key, &v))
		return 0;
	if (typed(&v, json_type_int, e) < 0)
		return -1;
	/* json-c keeps integers above INT64_MAX as unsigned; get_int64 tells the sign */
	if (json_object_get_int64(v.v) < 0)
		return jerr(&v, NULL, e, "not an integer from 0 to %" PRIu64, UINT64_MAX);
	*out = json_object_get_uint64(v.v);
	return 1;
}

int jbits64(const struct jval *o, const char *key, uint64_t *out, struct herr *e)
{
	struct jval v;
	int64_t n;

	if (!jany(o, key, &v))
		return 0;
	if (typed(&v, json_type_int, e) < 0)
		return -1;
	n = json_object_get_int64(v.v);
	*out = n < 0 ? (uint64_t)n : json_object_get_uint64(v.v);
	return 1;
}

int jstrs(const struct jval *o, const char *key, struct jval *out, struct herr *e)
{
	const char *s;
	int r = jarr(o, key, out, e);

	for (size_t i = 0; r > 0 && i < jlen(out); i++)
		if (jstr_at(out, i, &s, e) < 0)
			return -1;
	return r;
}

int jstrmap(const struct jval *o, const char *key, struct jval *out, struct herr *e)
{
	const char *s;
	int r = jobj(o, key, out, e);

	if (r <= 0)
		return r;
	json_object_object_foreach(out->v, k, val)
	{
		(void)val;
		if (jstr(out, k, &s, e) < 0)
			return -1;
		if (!s) /* null is no string here: the value is the point */
			return jerr(out, k, e, "not a string");
	}
	return 1;
}

size_t jlen(const struct jval *a)
{
	return a->v ? json_object_array_length(a->v) : 0;
}

int jobj_at(const struct jval *a, size_t i, struct jval *out, struct herr *e)
{
	element(a, i, out);
	return typed(out, json_type_object, e) < 0 ? -1 : 1;
}

int jstr_at(const struct jval *a, size_t i, const char **out, struct herr *e)
{
	struct jval v;

	element(a, i, &v);
	return string_value(&v, out, e);
}

int jint_at(const struct jval *a, size_t i, int64_t min, int64_t max, int64_t *out, struct herr *e)
{
	struct jval v;

	element(a, i, &v);
	return int_value(&v, min, max, out, e);
}
