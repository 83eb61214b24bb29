/*
 * Typed reads of untrusted JSON (config.json, a --process file, a seccomp profile in one).
 * Every value is read through these, so a field of the wrong type is an error that names its
 * path ("config.json: process.args[1]: not a string") and never reaches a json-c call that
 * asserts on the type (json_object_array_length of a string aborts) or hands back another
 * type's text (json_object_get_string of an object is its JSON).
 *
 * The getters of a member return 1 when it is there, 0 when it is absent or JSON null (null is
 * absent, as in the runtime spec's Go types), -1 with e filled when it has another type. An
 * array's elements are read with the *_at getters, for which null is an error like any other
 * wrong type: ["sh", null] is not a list of strings.
 */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* A value and where it is, for messages. v is NULL when absent. */
struct jval {
	json_object *v;
	const char *file; /* "config.json" */
	char path[256];	  /* "process.args[1]"; "" for the document itself */
};

/* The document: the top object (an error when it is anything else). */
int jroot(json_object *doc, const char *file, const char *path, struct jval *out, struct herr *e);

/* Members of an object (o itself must be an object or absent: one that jobj returned). */
int jobj(const struct jval *o, const char *key, struct jval *out, struct herr *e);
int jarr(const struct jval *o, const char *key, struct jval *out, struct herr *e);
/* A string without NUL bytes (a path cut short at one would be another path). */
int jstr(const struct jval *o, const char *key, const char **out, struct herr *e);
int jbool(const struct jval *o, const char *key, bool *out, struct herr *e);
/* An integer from min to max. */
int jint(const struct jval *o, const char *key, int64_t min, int64_t max, int64_t *out,
	 struct herr *e);
/* An integer from 0 to UINT64_MAX. */
int ju64(const struct jval *o, const char *key, uint64_t *out, struct herr *e);
/* An integer from INT64_MIN to UINT64_MAX, a negative one as its two's complement (seccomp's
 * comparison values). */
int jbits64(const struct jval *o, const char *key, uint64_t *out, struct herr *e);
/* Present with whatever type (values hutch hands on whole, e.g. to the seccomp parser). */
int jany(const struct jval *o, const char *key, struct jval *out);
/* An array of strings (each element checked), or an object whose every value is a string. */
int jstrs(const struct jval *o, const char *key, struct jval *out, struct herr *e);
int jstrmap(const struct jval *o, const char *key, struct jval *out, struct herr *e);

/* Elements of an array (a one jarr or jstrs returned; 0 elements when absent). */
size_t jlen(const struct jval *a);
int jobj_at(const struct jval *a, size_t i, struct jval *out, struct herr *e);
int jstr_at(const struct jval *a, size_t i, const char **out, struct herr *e);
int jint_at(const struct jval *a, size_t i, int64_t min, int64_t max, int64_t *out, struct herr *e);

/* "FILE: PATH.key: WHAT" (or "FILE: PATH: WHAT" with key NULL), for checks of a value's
 * meaning by the caller. Returns -1. */
__attribute__((format(printf, 4, 5))) int jerr(const struct jval *o, const char *key,
					       struct herr *e, const char *fmt, ...);
