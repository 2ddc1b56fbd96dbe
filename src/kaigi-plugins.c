/* kaigi-plugins.c — fail fast when a GStreamer element is missing
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <gst/gst.h>

#include "kaigi-plugins.h"
#include "kaigi-media.h"

/**
 * kaigi_plugins_check:
 * @error: return location for a %KAIGI_MEDIA_ERROR_MISSING_ELEMENT error
 *
 * Looks up every element of kaigi_media_get_required_elements() in the
 * registry. webrtcbin needs libnice's GStreamer plugin without saying so
 * until the first offer; this turns that into one clear message at
 * startup, naming the Debian packages to install. gst_init() must have run.
 *
 * Returns: %TRUE when everything is installed
 */
gboolean
kaigi_plugins_check (GError **error)
{
  g_autoptr(GString) missing = g_string_new (NULL);
  g_autoptr(GPtrArray) packages = g_ptr_array_new ();
  const KaigiRequiredElement *elements;
  guint i, n;

  elements = kaigi_media_get_required_elements (&n);
  for (i = 0; i < n; i++)
    {
      g_autoptr(GstElementFactory) factory = gst_element_factory_find (elements[i].factory);

      if (factory)
        continue;

      g_string_append_printf (missing, "%s%s", missing->len ? ", " : "", elements[i].factory);
      if (!g_ptr_array_find_with_equal_func (packages, elements[i].package, g_str_equal, NULL))
        g_ptr_array_add (packages, (gpointer) elements[i].package);
    }

  if (missing->len == 0)
    return TRUE;

  g_ptr_array_add (packages, NULL);
  {
    g_autofree char *list = g_strjoinv (" ", (char **) packages->pdata);

    g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_MISSING_ELEMENT,
                 _("Missing GStreamer elements: %s. Install them with: apt-get install %s"),
                 missing->str, list);
  }
  return FALSE;
}
