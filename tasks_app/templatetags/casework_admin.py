"""`{% casework_result_list cl %}`: Django's `{% result_list cl %}` with each row rendered as
one string (tasks_app/admin_rows.py); same template, same markup."""

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from tasks_app.admin_rows import rows_result_list

register = template.Library()


@register.tag(name="casework_result_list")
def casework_result_list_tag(parser, token):
    return InclusionAdminNode(
        parser,
        token,
        func=rows_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )
