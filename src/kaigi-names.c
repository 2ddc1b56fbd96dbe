/* kaigi-names.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "kaigi-names.h"
#include "kaigi-error.h"

/**
 * kaigi_name_validate:
 * @name: (nullable): a room or display name, NUL-terminated
 * @error: return location for a #KAIGI_NAME_ERROR
 *
 * Checks the naming rules of DESIGN.md and docs/protocol.md: 1 to
 * %KAIGI_NAME_MAX_CHARS Unicode code points of valid UTF-8, no control
 * characters (Unicode category Cc, including U+007F–U+009F), no '/', and no
 * leading or trailing white space. Any script is allowed.
 *
 * Pure function; may be called from any thread.
 *
 * Returns: %TRUE if @name is valid
 */
gboolean
kaigi_name_validate (const char  *name,
                     GError     **error)
{
  glong n_chars;
  const char *p;
  gunichar first, last = 0;

  if (name == NULL || *name == '\0')
    {
      g_set_error_literal (error, KAIGI_NAME_ERROR, KAIGI_NAME_ERROR_EMPTY,
                           "the name is empty");
      return FALSE;
    }

  if (!g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, KAIGI_NAME_ERROR, KAIGI_NAME_ERROR_INVALID_UTF8,
                           "the name is not valid UTF-8");
      return FALSE;
    }

  n_chars = g_utf8_strlen (name, -1);
  if (n_chars > KAIGI_NAME_MAX_CHARS)
    {
      g_set_error (error, KAIGI_NAME_ERROR, KAIGI_NAME_ERROR_TOO_LONG,
                   "the name has %ld characters; at most %d are allowed",
                   n_chars, KAIGI_NAME_MAX_CHARS);
      return FALSE;
    }

  first = g_utf8_get_char (name);
  for (p = name; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '/' || g_unichar_type (c) == G_UNICODE_CONTROL)
        {
          g_set_error (error, KAIGI_NAME_ERROR, KAIGI_NAME_ERROR_INVALID_CHARACTER,
                       "the name contains a forbidden character (U+%04X)", c);
          return FALSE;
        }
      last = c;
    }

  if (g_unichar_isspace (first) || g_unichar_isspace (last))
    {
      g_set_error_literal (error, KAIGI_NAME_ERROR, KAIGI_NAME_ERROR_SURROUNDING_SPACE,
                           "the name starts or ends with white space");
      return FALSE;
    }

  return TRUE;
}
